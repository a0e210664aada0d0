# Stand-in for mailpit (no Debian package): an SMTP sink on MP_SMTP_BIND_ADDR (default 0.0.0.0:1025)
# that logs one line per message received, for the smoke test to read.
FROM hotline-base:bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-aiosmtpd \
 && rm -rf /var/lib/apt/lists/*
COPY smtp_sink.py /usr/local/bin/smtp_sink.py
CMD ["python3", "-u", "/usr/local/bin/smtp_sink.py"]
