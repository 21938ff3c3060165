"""The part every loopback provider fake shares (fake_aliyun.py,
fake_tencent.py, fake_twilio.py): a ThreadingHTTPServer on 127.0.0.1 at a
free port, served from a daemon thread and closed with close(); a request
handler that keeps quiet and reads and writes bodies the same way; and a
wait for the n-th recorded request.

    class FakeX(fakehttp.FakeServer):
        def __init__(self):
            fake = self

            class Handler(fakehttp.Handler):
                def do_POST(self):
                    body = self.read_body()
                    ...
                    self.answer(200, out, "application/json")

            self.start(Handler)                 # self.server, self.port, self.thread

        def wait_count(self, n, timeout=10):
            return self.wait_for_count(self.sent, n, timeout,
                                       lambda got: "have %d" % len(got))
"""
import http.server
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 (anxind keeps its connections), no access log on stderr."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def read_body(self):
        """The request body (bytes) as Content-Length gives it; b"" without."""
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer(self, status, body, content_type, headers=None):
        """Sends status, the headers (a dict), Content-Type and body (bytes).
        A client that went away (anxind killed, a timeout) is not an error
        here."""
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass


class FakeServer:
    """What a fake gets from start(): server, port and thread."""

    def start(self, handler, poll_interval=0.5):
        """Serves handler (a Handler subclass) on 127.0.0.1 at a free port,
        from a daemon thread. poll_interval is how often the loop looks for
        close() (seconds)."""
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        # A killed anxind resets its connections; that is expected here.
        self.server.handle_error = lambda request, address: None
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": poll_interval}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def wait_for_count(get, n, timeout, explain):
        """Calls get() (a list of records) until it holds n or more, and
        returns that list; after timeout seconds raises AssertionError with
        explain(the last list) as its message."""
        deadline = time.monotonic() + timeout
        while True:
            got = get()
            if len(got) >= n:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(explain(got))
            time.sleep(0.05)
