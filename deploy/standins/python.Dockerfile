# Stand-in for python:3.11-slim-bookworm, from Debian's own packages (no registry reachable here).
FROM hotline-base:bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
 && ln -s /usr/bin/python3 /usr/local/bin/python && ln -s /usr/bin/pip3 /usr/local/bin/pip
# The host's CA bundle (copied into the base by deploy/smoke.sh): pip reaches PyPI through it.
ENV PIP_CERT=/etc/hotline-host-ca/ca.pem LANG=C.UTF-8
CMD ["python3"]
