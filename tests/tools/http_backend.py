#!/usr/bin/env python3
"""An HTTP/1.1 backend for plby's HTTP tests, on Python's own http.server.

Usage: http_backend.py IP PORT NAME [HEALTH_STATUS]

Every answer carries X-Backend: NAME and X-Connection: N (the backend's count of TCP
connections, so a test sees from the backend's side whether plby reused one). Paths:
  /echo            200, the request as JSON: method, path, headers, body length and SHA-256;
                   the body read whole first (Content-Length or chunked)
  /echo-chunked    200, the request body sent back as it is, in chunks
  /chunked?size=N  200, N bytes in chunks of up to 10000
  /status/N        status N, a short body
  /slow?ms=N       200 after N ms
  /until-close     200 without a length, ended by closing (an HTTP/1.0 style body)
  /garbage         bytes that are no HTTP response, then close
  /bad-chunk       a valid head and a broken chunk, in one write, then close
  /reset           a reset before any answer
  /ws              a WebSocket handshake (101), then every byte echoed until close
  /health          HEALTH_STATUS (default 200)
  /only-on/NAME    200 from backend NAME, 503 from the others
  /early           413 at once, the request body left unread (the connection stays open)
  anything else    200, "NAME PATH\\n"
"""
import base64
import hashlib
import itertools
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

connections = itertools.count(1)
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "plby-test-backend"

    def setup(self):
        super().setup()
        with lock:
            self.connection_id = next(connections)

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length) if length else b""

    def answer(self, status, body, extra=()):
        self.send_response(status)
        self.send_header("X-Backend", self.server.name)
        self.send_header("X-Connection", str(self.connection_id))
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_chunked(self, chunks):
        self.send_response(200)
        self.send_header("X-Backend", self.server.name)
        self.send_header("X-Connection", str(self.connection_id))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/echo":
            body = self.read_body()
            report = {
                "backend": self.server.name,
                "method": self.command,
                "path": self.path,
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
                "body_length": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
            }
            return self.answer(200, json.dumps(report).encode())
        if url.path == "/echo-chunked":
            body = self.read_body()
            return self.send_chunked(body[i:i + 7000] for i in range(0, len(body), 7000))
        if url.path == "/chunked":
            size = int(query.get("size", ["100000"])[0])
            data = bytes(i % 251 for i in range(size))
            return self.send_chunked(data[i:i + 10000] for i in range(0, size, 10000))
        if url.path.startswith("/status/"):
            self.read_body()
            status = int(url.path.split("/")[2])
            return self.answer(status, b"status %d from %s\n" % (status, self.server.name.encode()))
        if url.path.startswith("/only-on/"):
            self.read_body()
            wanted = url.path.split("/")[2]
            status = 200 if wanted == self.server.name else 503
            return self.answer(status, b"%d from %s\n" % (status, self.server.name.encode()))
        if url.path == "/early":
            return self.answer(413, b"too large, said early\n")
        if url.path == "/health":
            return self.answer(self.server.health_status, b"health\n")
        if url.path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            return self.answer(200, b"slow\n")
        if url.path == "/until-close":
            self.send_response(200)
            self.send_header("X-Backend", self.server.name)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until close " * 1000)
            self.close_connection = True
            return
        if url.path == "/garbage":
            self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
            self.close_connection = True
            return
        if url.path == "/bad-chunk":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"zz\r\nhello\r\n0\r\n\r\n")
            self.close_connection = True
            return
        if url.path == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if url.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            while True:
                data = self.connection.recv(65536)
                if not data:
                    break
                self.connection.sendall(data)
            self.close_connection = True
            return
        self.read_body()
        return self.answer(200, ("%s %s\n" % (self.server.name, self.path)).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = handle_any


def main():
    ip, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    server = ThreadingHTTPServer((ip, port), Handler)
    server.health_status = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    server.daemon_threads = True
    server.name = name
    print("listening on %s:%d" % (ip, port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
