"""Report and notification service of a 12345 government-service hotline (12345 政务服务热线)."""

__version__ = "0.1.0"
