"""A deliberately small HTTP/1.1 client over a plain socket, for tests that need exact control
of the bytes on the wire (malformed requests, chunked bodies, keep-alive, pipelining, idle peers).
"""

import json
import socket
import time
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_S = 10.0


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.header_list = headers  # [(name, value)] as received
        self.headers = {}
        for k, v in headers:
            key = k.lower()
            self.headers[key] = v if key not in self.headers else self.headers[key] + ", " + v
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response({self.status} {self.reason}, {len(self.body)} body bytes, headers={self.headers})"


class ConnectionClosed(Exception):
    pass


class RawConn:
    def __init__(self, port, host="127.0.0.1", timeout_s=DEFAULT_TIMEOUT_S):
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.port = port

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed("peer closed the connection")
        self.buf += chunk

    def _read_until(self, marker, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise ValueError(f"no {marker!r} within {limit} bytes")
            self._fill()
        i = self.buf.index(marker)
        out, self.buf = self.buf[:i], self.buf[i + len(marker):]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method="GET"):
        head = self._read_until(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        resp = Response(status, reason, headers, b"")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = resp.header("transfer-encoding", "")
        if "chunked" in te.lower():
            body = b""
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until an empty line
                    while self._read_until(b"\r\n"):
                        pass
                    break
                body += self._read_exact(size)
                self._read_until(b"\r\n")
            resp.body = body
        elif resp.header("content-length") is not None:
            resp.body = self._read_exact(int(resp.header("content-length")))
        else:
            # body until close
            while True:
                try:
                    self._fill()
                except ConnectionClosed:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def request(self, method, path, headers=None, body=b"", host=None):
        self.send(build_request(method, path, headers, body, host or f"127.0.0.1:{self.port}"))
        return self.read_response(method)

    def peer_closed_within(self, deadline_s):
        """True if the peer closes (EOF or reset) within the deadline; bytes received meanwhile are kept."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False


def build_request(method, path, headers=None, body=b"", host="127.0.0.1"):
    hdrs = {"Host": host}
    hdrs.update(headers or {})
    has_len = any(k.lower() in ("content-length", "transfer-encoding") for k in hdrs)
    if body and not has_len:
        hdrs["Content-Length"] = str(len(body))
    if method in ("PUT", "POST") and not body and not has_len:
        hdrs["Content-Length"] = "0"
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return head.encode("latin-1") + body


def chunked(body, sizes=(1, 7, 4096, 65536, 100000)):
    """Encode body with chunk sizes cycling through `sizes`, plus a chunk extension on the first."""
    out, off, i = [], 0, 0
    while off < len(body):
        n = sizes[i % len(sizes)]
        piece = body[off:off + n]
        ext = ";x=y" if i == 0 else ""
        out.append(f"{len(piece):x}{ext}\r\n".encode() + piece + b"\r\n")
        off += n
        i += 1
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def request(port, method, path, headers=None, body=b"", follow=True, max_hops=3, timeout_s=DEFAULT_TIMEOUT_S):
    """One request on a fresh connection, following 301/302/307/308 redirects (re-sending the body on 307/308).
    Returns (final Response, [redirect Responses])."""
    history = []
    for _ in range(max_hops + 1):
        with RawConn(port, timeout_s=timeout_s) as c:
            resp = c.request(method, path, headers, body)
        if not follow or resp.status not in (301, 302, 307, 308):
            return resp, history
        history.append(resp)
        loc = urlsplit(resp.header("location"))
        port = loc.port
        path = loc.path + ("?" + loc.query if loc.query else "")
        if resp.status in (301, 302):
            method = "GET" if method != "HEAD" else "HEAD"
            body = b""
    raise AssertionError(f"more than {max_hops} redirects: {history}")
