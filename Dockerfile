# Two images from one file (docker-compose.yml and `sweeper fleet` name the targets):
#
#   slim    the sweeper with PostgreSQL and gRPC clients and no Keras backend: the dashboard,
#           the gRPC proxy, report and export (none of them trains or imports TensorFlow)
#   worker  slim plus JAX with CUDA 12 (from pip: the NVIDIA libraries come as wheels, only the
#           host's driver is needed), training with KERAS_BACKEND=jax
#
# JAX rather than TensorFlow for the worker, by what was measured: the same Keras code trains
# on either; installed, JAX takes 380 MB against TensorFlow's 1,880 MB (the CUDA libraries are
# the same NVIDIA wheels for both), and a Keras-on-JAX environment is what the GPU benchmark runs
# on. On 2 CPU cores TensorFlow trains about 2x faster (README, Throughput), which is why it stays
# the default backend off GPUs. No GPU throughput of either has been measured yet.
#
#   docker build --target slim -t classweight-sweeper-slim .
#   docker build --target worker -t classweight-sweeper-worker .

FROM python:3.11-slim AS slim
RUN useradd --uid 1000 --create-home sweeper
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sweeper ./sweeper
RUN pip install --no-cache-dir ".[postgres,grpc]"
COPY studies ./studies
RUN mkdir -p .sweeper/artifacts && chown -R sweeper /app/.sweeper
ENV PYTHONUNBUFFERED=1
USER sweeper
CMD ["sweeper", "--help"]

FROM slim AS worker
USER root
RUN pip install --no-cache-dir ".[jax]" "jax[cuda12]>=0.4.30"
ENV KERAS_BACKEND=jax \
    XLA_PYTHON_CLIENT_PREALLOCATE=false
USER sweeper
