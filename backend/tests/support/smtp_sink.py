#!/usr/bin/env python3
"""A real SMTP server for the mail tests (aiosmtpd): it accepts every message and writes
each one to <dir>/<n>.json as {"mail_from", "rcpt_tos", "data"}. Prints "ready" when
listening. Usage: smtp_sink.py <host> <port> <dir>"""
import asyncio
import json
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        tmp = os.path.join(self.folder, f".{self.count}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.folder, f"{self.count}.json"))
        return "250 Message accepted for delivery"


def main():
    host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    controller = Controller(Sink(folder), hostname=host, port=port)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
