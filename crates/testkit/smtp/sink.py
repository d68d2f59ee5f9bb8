"""A real SMTP server for Circle's messaging tests (aiosmtpd, from PyPI).

Usage: sink.py DIR. Listens on 127.0.0.1 on a free port and writes the port to DIR/port
once it accepts connections. Every message it accepts is written, complete, to
DIR/mail/NNNNNN.eml *before* it answers 250 (like a real server, which has queued the
message by then). What it answers is read, per message, from DIR/mode:

  ok          250 (the default)
  slow:S      write the message, then wait S seconds before answering 250 (a client cut
              off in that wait has been delivered without learning it)
  refuse      550, message not kept
  defer       451, message not kept
  hang        never answer (the client times out), message not kept

Every DATA command is also logged as one line of DIR/attempts.log: its mode.
"""

import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, root):
        self.root = root
        self.mail = os.path.join(root, "mail")
        os.makedirs(self.mail, exist_ok=True)
        self.seq = 0

    def mode(self):
        try:
            with open(os.path.join(self.root, "mode")) as f:
                return f.read().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    async def handle_DATA(self, server, session, envelope):
        mode = self.mode()
        with open(os.path.join(self.root, "attempts.log"), "a") as f:
            f.write(mode + "\n")
        if mode == "refuse":
            return "550 5.7.1 Refused by the test server"
        if mode == "defer":
            return "451 4.3.0 Try again later"
        if mode == "hang":
            await asyncio.sleep(3600)
            return "451 4.3.0 Too late"
        self.seq += 1
        name = "%06d" % self.seq
        tmp = os.path.join(self.mail, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.mail, name + ".eml"))
        if mode.startswith("slow:"):
            await asyncio.sleep(float(mode[5:]))
        return "250 2.0.0 Ok: queued as " + name


async def main(root):
    sink = Sink(root)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="sink.test", data_size_limit=1 << 20),
        "127.0.0.1",
        0,
    )
    port = server.sockets[0].getsockname()[1]
    tmp = os.path.join(root, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, os.path.join(root, "port"))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
