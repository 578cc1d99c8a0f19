"""User-space fault-injecting proxies for the chaos tests (issue 5).

The test kernel has no ``netem`` qdisc, so loss, delay, jitter, reordering,
duplication, stalls and resets come from these stdlib-only asyncio proxies.
Everything binds 127.0.0.1 only.

Synchronous use (pytest)::

    import sys; sys.path.insert(0, "tests/chaos")
    from faultproxy import FaultNet

    with FaultNet(seed=1) as net:                 # asyncio loop in a thread
        p = net.tcp(("127.0.0.1", rtsp_port))     # TcpFaultProxy, already listening
        p.delay_ms, p.jitter_ms = 50, 20          # plain assignment, any thread
        url = f"rtsp://127.0.0.1:{p.port}/..."
        p.stall(2.0); p.cut_all(); p.half_close_all(); p.reset_random(0.5)
        u = net.udp(("127.0.0.1", rtp_port), loss=0.05, reorder=0.01)
        print(p.stats(), u.stats())
    # leaving the block stops every proxy (bounded) and the loop thread

Inside an existing asyncio loop, construct the proxy yourself and
``await p.start()`` / ``await p.stop()``; the action methods then run inline.

TcpFaultProxy(listen_port=0, target=(host, port), seed=None, **faults)
    Accepts TCP connections on ``p.port`` and opens one connection to
    ``target`` per client. Fault attributes (read for every forwarded chunk,
    so they may be assigned at runtime from any thread):

    ``delay_ms``, ``jitter_ms``
        Each chunk read is released ``delay_ms +/- uniform(jitter_ms)`` later
        (clamped at 0); release times never go backwards within a direction,
        so byte order is preserved.
    ``bandwidth_kbps``
        Token bucket per direction (client->target and target->client), shared
        by all connections of the proxy, like a link. 0/None = unlimited.
    ``max_buffer``
        Bytes held per direction per connection (default 8 MiB). When full the
        proxy stops reading that side, so TCP backpressure reaches the sender.

    Actions on live connections (thread-safe, return when applied):
    ``stall(seconds)``   stop forwarding both ways (sockets stay open; reading
                         continues until ``max_buffer``). ``stall(0)`` ends it.
    ``cut_all()``        abort both sides of every connection with RST
                         (SO_LINGER 0). Returns the number cut.
    ``half_close_all()`` shutdown(SHUT_WR) toward every client; data from the
                         target is then discarded, the client's writes still
                         reach the target.
    ``reset_random(fraction)`` cut each live connection with that probability
                         (seeded). Returns the number cut.

    ``stats()`` -> dict: connections (accepted), active, bytes_to_target,
    bytes_to_client, discarded, buffered_to_target, buffered_to_client (bytes
    held now), faults {stall, cut, half_close, reset}.

UdpFaultProxy(listen_port=0, target=(host, port), seed=None, **faults)
    Datagrams arriving on ``p.port`` from a client address are sent to
    ``target`` from a per-client upstream socket; replies on that socket go
    back to that client. For RTP+RTCP use two proxies. Faults (runtime
    assignable, any thread):

    ``loss``       drop probability.
    ``duplicate``  probability of sending a datagram twice.
    ``reorder``    probability of holding a datagram back until
                   ``reorder_gap`` (default 3) later datagrams of the same
                   direction have been sent, or ``reorder_max_ms`` (default
                   100) has passed.
    ``delay_ms``, ``jitter_ms``  per-datagram delay +/- uniform jitter. With
                   jitter 0 order is preserved; with jitter it may reorder.
    ``direction``  "both" (default), "to_target" or "to_client": where the
                   faults apply; the other direction passes untouched.
    ``max_queue``  bytes held in delay/reorder queues per direction
                   (default 8 MiB); beyond it datagrams are dropped (overflow).

    ``stats()`` -> dict: clients, and per direction ("to_target",
    "to_client"): in, out, dropped, duplicated, reordered, overflow.

Randomness: every proxy draws from ``random.Random`` streams derived from its
seed, one per direction and fault kind, so the same seed with the same
traffic gives the same drop/duplicate/reorder/jitter pattern, independent of
the other fault settings. ``FaultNet(seed)`` derives each proxy's seed from
its own seed and the proxy's creation index.
"""
import asyncio
import collections
import concurrent.futures
import random
import socket
import struct
import threading

__all__ = ["FaultNet", "TcpFaultProxy", "UdpFaultProxy"]

MiB = 1 << 20
_CHUNK = 65536
_LINGER0 = struct.pack("ii", 1, 0)


class _Base:
    def __init__(self, listen_port, target, seed):
        self.listen_port = listen_port
        self.target = (target[0], int(target[1]))
        self.seed = random.randrange(1 << 30) if seed is None else seed
        self.port = None
        self._loop = None

    def _rng(self, *parts):
        return random.Random(":".join(str(x) for x in (self.seed,) + parts))

    def _call_in_loop(self, fn, timeout=5.0):
        """Runs fn() on the proxy's loop (inline when already on it)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("proxy not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()
        fut = concurrent.futures.Future()

        def cb():
            try:
                fut.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)

        loop.call_soon_threadsafe(cb)
        return fut.result(timeout)

    def _jittered(self, rng, delay_ms, jitter_ms):
        d = float(delay_ms or 0)
        j = float(jitter_ms or 0)
        if j:
            d += rng.uniform(-j, j)
        return max(0.0, d) / 1000.0


# ---------------------------------------------------------------- TCP


class _Bucket:
    """Debt-style token bucket; the rate is read from the proxy every call."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.tokens = 0.0
        self.last = None

    @staticmethod
    def rate(kbps):
        return float(kbps) * 125.0  # bytes per second

    def piece(self):
        kbps = self.proxy.bandwidth_kbps
        if not kbps:
            return _CHUNK
        return int(min(16384, max(512, self.rate(kbps) / 50)))

    async def take(self, n):
        kbps = self.proxy.bandwidth_kbps
        if not kbps:
            self.last = None
            return
        bps = self.rate(kbps)
        burst = max(1500.0, bps / 50)
        now = asyncio.get_running_loop().time()
        if self.last is None:
            self.tokens = burst
        else:
            self.tokens = min(burst, self.tokens + (now - self.last) * bps)
        self.last = now
        self.tokens -= n
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / bps)


class _Pipe:
    """One direction of one connection: read -> delay queue -> stall/bucket -> write."""

    def __init__(self, conn, name, reader, writer, bucket):
        self.conn = conn
        self.proxy = conn.proxy
        self.name = name  # "to_target" or "to_client"
        self.reader = reader
        self.writer = writer
        self.bucket = bucket
        self.queue = collections.deque()
        self.buffered = 0
        self.last_release = 0.0
        self.data_ev = asyncio.Event()
        self.space_ev = asyncio.Event()
        self.done = asyncio.Event()
        self.discard = False
        self.rtask = None
        self.wtask = None

    def start(self):
        self.rtask = asyncio.ensure_future(self._read_loop())
        self.wtask = asyncio.ensure_future(self._write_loop())

    def stop(self):
        for t in (self.rtask, self.wtask):
            if t and not t.done():
                t.cancel()
        self.done.set()

    def half_close(self):
        """Discard everything from now on and send FIN to this pipe's writer."""
        self.discard = True
        self.queue.clear()
        self.buffered = 0
        self.space_ev.set()
        if self.wtask and not self.wtask.done():
            self.wtask.cancel()
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
        except (OSError, RuntimeError):
            pass

    async def _read_loop(self):
        loop = asyncio.get_running_loop()
        p = self.proxy
        try:
            while True:
                data = await self.reader.read(_CHUNK)
                if self.discard:
                    if not data:
                        self.done.set()
                        return
                    p._discarded += len(data)
                    continue
                now = loop.time()
                release = max(self.last_release, now + p._jittered(p._jrng[self.name], p.delay_ms, p.jitter_ms))
                self.last_release = release
                self.queue.append((release, data or None))
                self.data_ev.set()
                if not data:
                    return
                self.buffered += len(data)
                while self.buffered >= p.max_buffer and not self.discard:
                    self.space_ev.clear()
                    await self.space_ev.wait()
        except asyncio.CancelledError:
            raise
        except (OSError, asyncio.IncompleteReadError, RuntimeError) as e:
            self.conn.fail(e)

    async def _wait_stall(self, loop):
        while True:
            left = self.proxy._stall_until - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))

    async def _write_loop(self):
        loop = asyncio.get_running_loop()
        p = self.proxy
        try:
            while True:
                while not self.queue:
                    self.data_ev.clear()
                    await self.data_ev.wait()
                release, chunk = self.queue[0]
                wait = release - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._wait_stall(loop)
                self.queue.popleft()
                if chunk is None:
                    if self.writer.can_write_eof():
                        self.writer.write_eof()
                    await self.writer.drain()
                    self.done.set()
                    return
                view = memoryview(chunk)
                off = 0
                while off < len(view):
                    await self._wait_stall(loop)
                    piece = view[off:off + self.bucket.piece()]
                    await self.bucket.take(len(piece))
                    await self._wait_stall(loop)
                    if self.name == "to_target":  # counted first: a reader never sees more than the counter
                        p._bytes_to_target += len(piece)
                    else:
                        p._bytes_to_client += len(piece)
                    self.writer.write(piece)
                    off += len(piece)
                    await self.writer.drain()
                self.buffered -= len(chunk)
                if self.buffered < p.max_buffer:
                    self.space_ev.set()
        except asyncio.CancelledError:
            raise
        except (OSError, RuntimeError) as e:
            self.conn.fail(e)


class _Conn:
    def __init__(self, proxy, creader, cwriter):
        self.proxy = proxy
        self.creader, self.cwriter = creader, cwriter
        self.sreader = self.swriter = None
        self.pipes = []
        self.closed = False
        self.index = proxy._connections  # accept order, for seeded choices

    async def run(self):
        p = self.proxy
        try:
            try:
                self.sreader, self.swriter = await asyncio.wait_for(
                    asyncio.open_connection(*p.target, limit=_CHUNK), 5.0)
            except (OSError, asyncio.TimeoutError) as e:
                self.fail(e)
                return
            for w in (self.cwriter, self.swriter):
                _nodelay(w)
            up = _Pipe(self, "to_target", self.creader, self.swriter, p._buckets["to_target"])
            down = _Pipe(self, "to_client", self.sreader, self.cwriter, p._buckets["to_client"])
            self.pipes = [up, down]
            if self.closed:
                return
            for pipe in self.pipes:
                pipe.start()
            await up.done.wait()
            await down.done.wait()
            self.close()
        finally:
            self.close()
            p._conns.discard(self)

    def _writers(self):
        return [w for w in (self.cwriter, self.swriter) if w is not None]

    def fail(self, exc=None):
        """A side errored (e.g. reset): abort the other side too."""
        self.abort(rst=True)

    def abort(self, rst=True):
        if self.closed:
            return
        self.closed = True
        for w in self._writers():
            if rst:
                sock = w.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
                    except OSError:
                        pass
            w.transport.abort()
        for pipe in self.pipes:
            pipe.stop()

    def close(self):
        if self.closed:
            return
        self.closed = True
        for pipe in self.pipes:
            pipe.stop()
        for w in self._writers():
            w.close()

    def half_close(self):
        if self.closed or len(self.pipes) != 2:
            return False
        self.pipes[1].half_close()
        return True


def _nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class TcpFaultProxy(_Base):
    """TCP forwarding proxy with delay/jitter, bandwidth, stall, cut, half-close, reset."""

    def __init__(self, listen_port=0, target=None, seed=None, delay_ms=0, jitter_ms=0, bandwidth_kbps=0,
                 max_buffer=8 * MiB):
        super().__init__(listen_port, target, seed)
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        self.bandwidth_kbps = bandwidth_kbps
        self.max_buffer = max_buffer
        self._jrng = {d: self._rng(d, "jitter") for d in ("to_target", "to_client")}
        self._reset_rng = self._rng("reset")
        self._stall_until = 0.0
        self._conns = set()
        self._tasks = set()
        self._server = None
        self._buckets = None
        self._connections = 0
        self._bytes_to_target = 0
        self._bytes_to_client = 0
        self._discarded = 0
        self._faults = {"stall": 0, "cut": 0, "half_close": 0, "reset": 0}

    async def start(self):
        self._loop = asyncio.get_running_loop()
        self._buckets = {"to_target": _Bucket(self), "to_client": _Bucket(self)}
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port, limit=_CHUNK)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader, writer):
        self._connections += 1
        conn = _Conn(self, reader, writer)
        self._conns.add(conn)
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await conn.run()
        finally:
            self._tasks.discard(task)

    async def stop(self):
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort(rst=False)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass

    # -- actions (thread-safe)

    def stall(self, seconds):
        def do():
            self._stall_until = self._loop.time() + max(0.0, float(seconds))
            if seconds > 0:
                self._faults["stall"] += 1
        self._call_in_loop(do)

    def cut_all(self):
        def do():
            n = 0
            for conn in list(self._conns):
                if not conn.closed:
                    conn.abort(rst=True)
                    n += 1
            self._faults["cut"] += n
            return n
        return self._call_in_loop(do)

    def half_close_all(self):
        def do():
            n = sum(1 for conn in list(self._conns) if conn.half_close())
            self._faults["half_close"] += n
            return n
        return self._call_in_loop(do)

    def reset_random(self, fraction):
        def do():
            n = 0
            for conn in sorted(self._conns, key=lambda c: c.index):
                if not conn.closed and self._reset_rng.random() < fraction:
                    conn.abort(rst=True)
                    n += 1
            self._faults["reset"] += n
            return n
        return self._call_in_loop(do)

    @property
    def active(self):
        return sum(1 for c in list(self._conns) if not c.closed)

    def stats(self):
        return {"connections": self._connections, "active": self.active,
                "bytes_to_target": self._bytes_to_target, "bytes_to_client": self._bytes_to_client,
                "discarded": self._discarded, "faults": dict(self._faults), **self._buffered()}

    def _buffered(self):
        out = {"buffered_to_target": 0, "buffered_to_client": 0}
        for conn in list(self._conns):
            for pipe in list(conn.pipes):
                out["buffered_" + pipe.name] += pipe.buffered
        return out


# ---------------------------------------------------------------- UDP


class _Dir:
    """Fault pipeline for one UDP direction."""

    def __init__(self, proxy, name):
        self.proxy = proxy
        self.name = name
        self.rng = {k: proxy._rng(name, k) for k in ("loss", "duplicate", "reorder", "jitter")}
        self.fifo = collections.deque()  # (release, data, send) when jitter is 0
        self.fifo_handle = None
        self.held = []  # [remaining, data, send, timer]
        self.queued = 0
        self.c = {"in": 0, "out": 0, "dropped": 0, "duplicated": 0, "reordered": 0, "overflow": 0}

    def _faulty(self):
        d = self.proxy.direction
        return d == "both" or d == self.name

    def submit(self, data, send):
        self.c["in"] += 1
        p = self.proxy
        if not self._faulty():
            self._out(data, send)
            return
        if p.loss and self.rng["loss"].random() < p.loss:
            self.c["dropped"] += 1
            return
        copies = 1
        if p.duplicate and self.rng["duplicate"].random() < p.duplicate:
            copies = 2
            self.c["duplicated"] += 1
        for _ in range(copies):
            if p.reorder and self.rng["reorder"].random() < p.reorder:
                if not self._admit(data):
                    continue
                self.c["reordered"] += 1
                item = [max(1, int(p.reorder_gap)), data, send, None]
                item[3] = p._loop.call_later(max(0.0, p.reorder_max_ms) / 1000.0, self._release_held, item)
                self.held.append(item)
            else:
                self._schedule(data, send)
                self._tick_held()

    def _admit(self, data):
        if self.queued + len(data) > self.proxy.max_queue:
            self.c["overflow"] += 1
            return False
        self.queued += len(data)
        return True

    def _tick_held(self):
        ready = []
        for item in self.held:
            item[0] -= 1
            if item[0] <= 0:
                ready.append(item)
        for item in ready:
            item[3].cancel()
            self._release_held(item)

    def _release_held(self, item):
        if item in self.held:
            self.held.remove(item)
            self.queued -= len(item[1])
            self._schedule(item[1], item[2])

    def _schedule(self, data, send):
        p = self.proxy
        if not p.jitter_ms:
            d = self.proxy._jittered(None, p.delay_ms, 0)
            if d <= 0 and not self.fifo:
                self._out(data, send)
                return
            if not self._admit(data):
                return
            self.fifo.append((p._loop.time() + d, data, send))
            if self.fifo_handle is None:
                self._pump()
            return
        d = p._jittered(self.rng["jitter"], p.delay_ms, p.jitter_ms)
        if not self._admit(data):
            return

        def fire():
            self.queued -= len(data)
            self._out(data, send)
        p._loop.call_later(d, fire)

    def _pump(self):
        self.fifo_handle = None
        loop = self.proxy._loop
        now = loop.time()
        while self.fifo and self.fifo[0][0] <= now:
            _, data, send = self.fifo.popleft()
            self.queued -= len(data)
            self._out(data, send)
        if self.fifo:
            self.fifo_handle = loop.call_at(self.fifo[0][0], self._pump)

    def _out(self, data, send):
        if self.proxy._stopped:
            return
        try:
            send(data)
            self.c["out"] += 1
        except OSError:
            self.c["dropped"] += 1

    def cancel(self):
        if self.fifo_handle:
            self.fifo_handle.cancel()
        for item in self.held:
            item[3].cancel()
        self.held.clear()
        self.fifo.clear()


class _ListenProto(asyncio.DatagramProtocol):
    def __init__(self, proxy):
        self.proxy = proxy

    def datagram_received(self, data, addr):
        self.proxy._from_client(data, addr)

    def error_received(self, exc):
        pass


class _UpProto(asyncio.DatagramProtocol):
    def __init__(self, proxy, client):
        self.proxy = proxy
        self.client = client

    def datagram_received(self, data, addr):
        self.proxy._from_target(data, self.client)

    def error_received(self, exc):  # e.g. ECONNREFUSED from the target: ignore, like a network would
        pass


class UdpFaultProxy(_Base):
    """UDP forwarding proxy with loss, duplication, reordering, delay and jitter."""

    MAX_CLIENTS = 64

    def __init__(self, listen_port=0, target=None, seed=None, loss=0.0, duplicate=0.0, reorder=0.0, reorder_gap=3,
                 reorder_max_ms=100, delay_ms=0, jitter_ms=0, direction="both", max_queue=8 * MiB):
        super().__init__(listen_port, target, seed)
        if direction not in ("both", "to_target", "to_client"):
            raise ValueError(f"bad direction {direction!r}")
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.reorder_gap = reorder_gap
        self.reorder_max_ms = reorder_max_ms
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        self.direction = direction
        self.max_queue = max_queue
        self._dirs = {"to_target": _Dir(self, "to_target"), "to_client": _Dir(self, "to_client")}
        self._clients = {}  # addr -> [transport or None, pending list]
        self._transport = None
        self._stopped = False
        self._tasks = set()

    async def start(self):
        self._loop = asyncio.get_running_loop()
        self._transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _ListenProto(self), local_addr=("127.0.0.1", self.listen_port))
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    def _from_client(self, data, addr):
        if self._stopped:
            return
        cl = self._clients.get(addr)
        if cl is None:
            if len(self._clients) >= self.MAX_CLIENTS:
                self._dirs["to_target"].c["overflow"] += 1
                return
            cl = self._clients[addr] = [None, []]
            t = self._loop.create_task(self._open_upstream(addr, cl))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
        if cl[0] is None:
            if len(cl[1]) < 1024:
                cl[1].append(data)
            return
        self._dirs["to_target"].submit(data, cl[0].sendto)

    async def _open_upstream(self, addr, cl):
        try:
            tr, _ = await self._loop.create_datagram_endpoint(
                lambda: _UpProto(self, addr), local_addr=("127.0.0.1", 0), remote_addr=self.target)
        except OSError:
            self._clients.pop(addr, None)
            return
        if self._stopped:
            tr.close()
            return
        cl[0] = tr
        pending, cl[1] = cl[1], []
        for data in pending:
            self._dirs["to_target"].submit(data, tr.sendto)

    def _from_target(self, data, client):
        if self._stopped or self._transport is None:
            return
        tr = self._transport
        self._dirs["to_client"].submit(data, lambda d: tr.sendto(d, client))

    async def stop(self):
        self._stopped = True
        for d in self._dirs.values():
            d.cancel()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for tr, _ in list(self._clients.values()):
            if tr is not None:
                tr.close()
        if self._transport is not None:
            self._transport.close()

    @property
    def clients(self):
        return list(self._clients)

    def stats(self):
        return {"clients": len(self._clients), **{k: dict(d.c) for k, d in self._dirs.items()}}


# ---------------------------------------------------------------- runner


class FaultNet:
    """Runs an asyncio loop in a daemon thread and owns proxies created through it."""

    def __init__(self, seed=0):
        self.seed = seed
        self.proxies = []
        self._loop = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main():
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="faultnet", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("faultnet loop did not start")
        return self

    def run(self, coro, timeout=10.0):
        """Runs a coroutine on the loop and returns its result (bounded)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _seed(self, seed):
        return f"{self.seed}/{len(self.proxies)}" if seed is None else seed

    def tcp(self, target, listen_port=0, seed=None, **faults):
        p = TcpFaultProxy(listen_port, target, seed=self._seed(seed), **faults)
        self.run(p.start())
        self.proxies.append(p)
        return p

    def udp(self, target, listen_port=0, seed=None, **faults):
        p = UdpFaultProxy(listen_port, target, seed=self._seed(seed), **faults)
        self.run(p.start())
        self.proxies.append(p)
        return p

    def stop(self, timeout=5.0):
        if self._loop is None:
            return
        loop = self._loop
        if self._thread.is_alive():
            for p in self.proxies:
                try:
                    self.run(p.stop(), timeout)
                except Exception:  # noqa: BLE001 - shutdown is best effort, but bounded
                    pass

            async def cancel_rest():
                rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in rest:
                    t.cancel()
                if rest:
                    await asyncio.wait(rest, timeout=1.0)
            try:
                self.run(cancel_rest(), timeout)
            except Exception:  # noqa: BLE001
                pass
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)
        if not self._thread.is_alive():
            loop.close()
        self._loop = None
