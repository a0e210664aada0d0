"""An SMTP sink that logs each message it receives: sender, recipients, decoded subject."""
import email
import email.policy
import os
import signal

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        print(f"received from={envelope.mail_from} to={','.join(envelope.rcpt_tos)} subject={message['subject']}")
        return "250 OK"


# Blocked before the server's thread starts, so that sigwait gets them (as PID 1 nothing else would).
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
host, _, port = os.environ.get("MP_SMTP_BIND_ADDR", "0.0.0.0:1025").rpartition(":")
controller = Controller(Sink(), hostname=host or "0.0.0.0", port=int(port))
controller.start()
print(f"smtp sink on {host}:{port}")
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
