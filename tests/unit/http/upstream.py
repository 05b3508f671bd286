"""Test upstream for the http/proxy unit test: a tornado server (what Jupyter
runs on) on a unix socket. Usage: upstream.py SOCKET_PATH

  /user/test/echo     JSON: method, path, headers, id of the upstream connection;
                      answers with hop-by-hop and cookie headers to be filtered
  /user/test/upload   streamed request body: its length and SHA-256
  /user/test/big?n=N  N bytes of a known pattern, flushed in pieces (chunked)
  /user/test/cookies   Set-Cookie lines a server must not get through to the browser
                      (and one it may)
  /user/NAME/api/kernels/<id>/channels   WebSocket: first a JSON message with
                      the request headers seen here, then echo
  /user/test/wsstats  JSON: sizes of the WebSocket messages received so far
"""
import hashlib
import json
import sys

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
import tornado.websocket


RECEIVED = []


def conn_id(handler):
    return id(handler.request.connection.stream)


class Echo(tornado.web.RequestHandler):
    def _answer(self):
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Hop-Server", "1")
        self.set_header("Connection", "X-Hop-Server")
        self.set_header("Keep-Alive", "timeout=5")
        self.set_header("Proxy-Connection", "keep-alive")
        self.add_header("Set-Cookie", "nbwarden-session=planted; Path=/")
        self.add_header("Set-Cookie", "theirs=1; Path=/user/test/")
        self.write(json.dumps({
            "method": self.request.method,
            "uri": self.request.uri,
            "headers": [[k, v] for k, v in self.request.headers.get_all()],
            "conn": conn_id(self),
            "body_len": len(self.request.body or b""),
        }))

    def get(self):
        self._answer()

    def post(self):
        self._answer()


@tornado.web.stream_request_body
class Upload(tornado.web.RequestHandler):
    def prepare(self):
        self.hash = hashlib.sha256()
        self.n = 0
        self.request.connection.set_max_body_size(1 << 30)

    def data_received(self, chunk):
        self.hash.update(chunk)
        self.n += len(chunk)

    def post(self):
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"len": self.n, "sha256": self.hash.hexdigest(),
                               "conn": conn_id(self),
                               "te": self.request.headers.get("Transfer-Encoding"),
                               "cl": self.request.headers.get("Content-Length")}))

    put = post


class Cookies(tornado.web.RequestHandler):
    def get(self):
        for c in ("=nbwarden-session=planted; Path=/hub/api",
                  "_xsrf=known; Path=/hub/",
                  "__Host-nbwarden-session=planted; Path=/; Secure",
                  " NBWarden-Server=planted; Path=/user/test/",
                  "wide=1; Path=/",
                  "dom=1; Domain=127.0.0.1; Path=/user/test/",
                  "sibling=1; Path=/user/testx/",
                  "good=1; Path=/user/test/",
                  "default=1"):
            self.add_header("Set-Cookie", c)
        self.set_header("Cross-Origin-Opener-Policy", "same-origin")
        self.set_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.set_header("Clear-Site-Data", '"cookies"')
        self.set_header("X-Kept", "1")
        self.write("cookies")


class WsStats(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"sizes": RECEIVED}))


class HugeHead(tornado.web.RequestHandler):
    def get(self):
        self.set_header("X-Huge", "h" * 70000)
        self.write("never seen")


class Big(tornado.web.RequestHandler):
    async def get(self):
        n = int(self.get_argument("n"))
        self.set_header("Content-Type", "application/octet-stream")
        sent = 0
        while sent < n:
            k = min(65536, n - sent)
            self.write(bytes((sent + i) % 251 for i in range(k)))
            await self.flush()
            sent += k


class Channels(tornado.websocket.WebSocketHandler):
    def get_compression_options(self):
        return None

    def open(self, user, kernel_id):
        h = self.request.headers
        self.write_message(json.dumps({
            "kernel": kernel_id,
            "extensions": h.get("Sec-WebSocket-Extensions"),
            "authorization": h.get("Authorization"),
            "cookie": h.get("Cookie"),
        }))

    def on_message(self, message):
        RECEIVED.append(len(message))
        self.write_message(message, binary=isinstance(message, bytes))


def main():
    path = sys.argv[1]
    app = tornado.web.Application([
        (r"/user/test/echo", Echo),
        (r"/user/test/upload", Upload),
        (r"/user/test/big", Big),
        (r"/user/test/hugehead", HugeHead),
        (r"/user/test/cookies", Cookies),
        (r"/user/test/wsstats", WsStats),
        (r"/user/([a-z]+)/api/kernels/([0-9a-f-]+)/channels", Channels),
    ], websocket_max_message_size=16 << 20)
    server = tornado.httpserver.HTTPServer(app, max_body_size=1 << 30)
    server.add_socket(tornado.netutil.bind_unix_socket(path, mode=0o600))
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
