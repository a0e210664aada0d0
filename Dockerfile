# The hotline report and notification service: one image for the scheduler, the workers and the CLI.
FROM python:3.11-slim-bookworm

# CJK fonts (never tofu), Pango for WeasyPrint, hb-subset for fast font subsetting, poppler for previews.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      fonts-noto-cjk fonts-arphic-ukai fontconfig libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 hotline
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
# Editable, so that the package finds templates/, config/ and db/ beside it in /app.
RUN pip install --no-cache-dir -e .
COPY templates ./templates
COPY db ./db
COPY config ./config
COPY schedules.yaml calendar.yaml ./

ENV HOTLINE_VAR=/var/lib/hotline HOTLINE_FONTS=/app/fonts PYTHONUNBUFFERED=1
# Prepare the reduced CJK faces at build time, so no container pays for it at run time.
RUN mkdir -p /var/lib/hotline /app/fonts \
 && python -c "from pathlib import Path; from worker.fonts import prepare; prepare(Path('/app/fonts'))" \
 && chown -R hotline /var/lib/hotline
USER hotline
ENTRYPOINT ["hotline"]
CMD ["--help"]
