#!/usr/bin/env python3
"""A small SMTP server for tests: every message it accepts is stored as a .eml file.

Usage: smtp-sink.py HOST PORT DIR [--tls none|starttls|tls] [--cert PEM --key PEM] [--auth USER:PASSWORD]

- PORT 0 binds a free port. Once listening, ONE line goes to stdout: "READY <port>".
- Each message is written as DIR/<n>.eml (the bytes received after DATA) with DIR/<n>.json beside
  it: {"mail_from", "rcpt_tos", "auth_login", "tls", "parsed"}, where "parsed" is what Python's
  email package reads from the message: decoded "subject", "from", "to", "message_id",
  "content_type", all "headers", and the leaf "parts" as {"content_type", "text"}. Both files are
  written to a temporary name first and renamed, .json last, so a reader that sees the .json
  sees complete files.
- --tls starttls offers STARTTLS and refuses mail before it; --tls tls speaks TLS from the first
  byte (SMTPS). Both need --cert and --key.
- --auth accepts exactly that login (PLAIN/LOGIN) and refuses mail from clients that did not log in.
Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import ssl
import logging
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# aiosmtpd logs a warning about its own use of a deprecated attribute on every successful login.
logging.getLogger("mail.log").addFilter(lambda record: "login_data is deprecated" not in record.getMessage())


class StoreHandler:
    def __init__(self, directory, need_auth):
        self.directory = directory
        self.need_auth = need_auth
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        if self.need_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        n = next(self.counter)
        raw = envelope.original_content or envelope.content
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_login": session.auth_data.decode() if isinstance(session.auth_data, bytes) else None,
            # STARTTLS sets session.ssl; an implicit-TLS connection shows on the transport.
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "parsed": parse(raw),
        }
        self._write(f"{n}.eml", raw)
        self._write(f"{n}.json", json.dumps(meta).encode())
        return "250 2.0.0 Message accepted for delivery"

    def _write(self, name, data):
        tmp = os.path.join(self.directory, f".{name}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, os.path.join(self.directory, name))


def parse(raw):
    """The message as a mail client sees it: decoded headers and the text of each leaf part."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        try:
            text = part.get_content()
        except (LookupError, ValueError) as error:
            text = f"<undecodable: {error}>"
        parts.append({"content_type": part.get_content_type(), "text": text if isinstance(text, str) else None})
    return {
        "subject": str(message.get("subject", "")),
        "from": str(message.get("from", "")),
        "to": [str(addr) for addr in message.get("to").addresses] if message.get("to") else [],
        "message_id": str(message.get("message-id", "")),
        "content_type": message.get_content_type(),
        "headers": {key: str(value) for key, value in message.items()},
        "parts": parts,
    }


def make_authenticator(expected_login, expected_password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == expected_login
            and auth_data.password.decode() == expected_password
        )
        # handled=False makes aiosmtpd itself answer 535 to a failed login.
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    return authenticate


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    context = None
    if args.tls != "none":
        if not (args.cert and args.key):
            sys.exit("smtp-sink.py: --tls starttls|tls needs --cert and --key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    authenticator = None
    if args.auth:
        login, _, password = args.auth.partition(":")
        authenticator = make_authenticator(login, password)
    handler = StoreHandler(args.dir, need_auth=bool(args.auth))

    def factory():
        options = {"hostname": "veritrail-smtp-sink", "authenticator": authenticator}
        if args.tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        # aiosmtpd only knows about STARTTLS: with implicit TLS the whole connection is already
        # encrypted, so "require TLS for AUTH" must be off or AUTH would never be offered.
        options["auth_require_tls"] = args.tls == "starttls"
        return SMTP(handler, **options)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, host=args.host, port=args.port, ssl=context if args.tls == "tls" else None
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    parser = argparse.ArgumentParser(description="SMTP sink that stores messages as .eml files")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("dir")
    parser.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="USER:PASSWORD to require")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
