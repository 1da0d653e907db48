"""A TCP proxy on loopback that can stop forwarding: a database whose packets are dropped.

While dropping, it still accepts connections and reads what clients send (the kernel
acknowledges it, as a proxy or load balancer in the path would), but forwards nothing
either way; the client sees a server that never answers. No firewall rule is touched.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class BlackholeProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._dropping = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._tainted: list[socket.socket] = []  # saw bytes dropped: unusable afterwards
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self) -> None:
        self._dropping.set()

    def restore(self) -> None:
        """Forward again. Connections that lost bytes are closed, as their streams are
        broken; new ones work."""
        with self._lock:
            for sock in self._tainted:
                _close(sock)
            self._tainted.clear()
        self._dropping.clear()

    def close(self) -> None:
        self._stopped.set()
        _close(self._listener)
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            if self._dropping.is_set():
                self._taint(client)
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                _close(sink)
                _close(source)
                return
            if self._dropping.is_set():
                self._taint(source, sink)
                continue
            try:
                sink.sendall(data)
            except OSError:
                _close(source)
                return

    def _swallow(self, client: socket.socket) -> None:
        while True:
            try:
                if not client.recv(65536):
                    return
            except OSError:
                return

    def _taint(self, *socks: socket.socket) -> None:
        with self._lock:
            self._tainted.extend(socks)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
