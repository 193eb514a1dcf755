# One image for every Python service of the project; docker-compose.yml picks
# the service by its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code edits do not invalidate the pip layer.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# No service needs root.
RUN useradd --system --uid 10001 --no-create-home app
USER app
