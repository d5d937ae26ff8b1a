# A sweeper worker image for GPU machines: TensorFlow with CUDA, the sweeper, PostgreSQL and gRPC
# clients. Used by docker-compose.yml for the `worker`, `dashboard` and `proxy` services.
FROM tensorflow/tensorflow:2.21.0-gpu

WORKDIR /app
COPY pyproject.toml README.md ./
COPY sweeper ./sweeper
RUN pip install --no-cache-dir ".[tensorflow,postgres,grpc]"
COPY studies ./studies

ENV TF_CPP_MIN_LOG_LEVEL=3 \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    PYTHONUNBUFFERED=1

CMD ["sweeper", "--help"]
