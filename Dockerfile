# The hotline report and notification service: one image for the scheduler, the workers and the CLI.
FROM python:3.11-slim-bookworm

# CJK fonts (never tofu), Pango for WeasyPrint, hb-subset for fast font subsetting, poppler for previews.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      fonts-noto-cjk fonts-arphic-ukai fontconfig libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 hotline
WORKDIR /app
# The dependencies first, at the lock's versions (the ones the suite passed with), in a layer that
# only pyproject.toml and requirements.lock invalidate; then the package itself, editable, so that
# it finds templates/, config/ and db/ beside it in /app.
COPY pyproject.toml README.md requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/dependencies.txt \
 && pip install --no-cache-dir -c requirements.lock -r /tmp/dependencies.txt && rm /tmp/dependencies.txt
COPY worker ./worker
RUN pip install --no-cache-dir --no-deps -e .
COPY templates ./templates
COPY db ./db
COPY config ./config
COPY schedules.yaml calendar.yaml ./
# The shipped policy as the default configuration folder; a deployment mounts its own over it.
COPY deploy/init-config.sh ./deploy/
RUN deploy/init-config.sh /etc/hotline

ENV HOTLINE_VAR=/var/lib/hotline HOTLINE_CONFIG=/etc/hotline HOTLINE_FONTS=/app/fonts PYTHONUNBUFFERED=1
# Prepare the reduced CJK faces at build time, so no container pays for it at run time.  The
# volumes' mount points exist owned by the service's user, so new volumes start writable by it.
RUN mkdir -p /var/lib/hotline/inbox /app/fonts \
 && python -c "from pathlib import Path; from worker.fonts import prepare; prepare(Path('/app/fonts'))" \
 && chown -R hotline /var/lib/hotline
USER hotline
ENTRYPOINT ["hotline"]
CMD ["--help"]
