#!/usr/bin/env python3
# bench/ws_load.py -- the two ends of bench/tunnels.sh, on asyncio (epoll:
# thousands of sockets, which select()-based Perl cannot hold).
#
#   ws_load.py backend PORT
#       A backend: a request with "Upgrade:" gets 101 and then every byte
#       is echoed; any other request gets "200 ok" (keep-alive).
#   ws_load.py client PORT N PATH [GETS]
#       Opens up to N upgraded tunnels through the front on PORT (PATH),
#       100 at a time (stops early when a whole batch gets no 101 within
#       5 s: the front holds no more), then times GETS plain requests on
#       fresh connections (2 s limit each) while they are all open, then
#       sends one message through every tunnel and counts the echoes.
#       Prints: held=H echoed=E get_ok=G get_median_ms=M get_max_ms=X
import asyncio
import statistics
import sys
import time

HEAD_LIMIT = 16384


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > HEAD_LIMIT:
        raise ValueError("head too long")
    return head


async def serve_conn(reader, writer):
    try:
        while True:
            head = await read_head(reader)
            if b"\nupgrade:" in head.lower():
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\n"
                             b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                await writer.drain()
                while True:
                    data = await reader.read(65536)
                    if not data:
                        return
                    writer.write(data)
                    await writer.drain()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                         b"Content-Type: text/plain\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError,
            asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def backend(port):
    server = await asyncio.start_server(serve_conn, "127.0.0.1", port,
                                        backlog=4096)
    async with server:
        await server.serve_forever()


async def open_tunnel(port, path, i):
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), 5)
    except (OSError, asyncio.TimeoutError):
        return None
    writer.write(("GET %s%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                  % (path, i)).encode())
    try:
        head = await asyncio.wait_for(read_head(reader), 5)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError,
            ConnectionError, asyncio.LimitOverrunError, ValueError):
        writer.close()
        return None
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        return None
    return reader, writer


async def timed_get(port):
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), 2)
        writer.write(b"GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Connection: close\r\n\r\n")
        head = await asyncio.wait_for(read_head(reader), 2 - (time.monotonic() - t0))
        writer.close()
        if not head.startswith(b"HTTP/1.1 200"):
            return None
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
            ValueError):
        return None
    return (time.monotonic() - t0) * 1000


async def echo(t, i):
    reader, writer = t
    msg = b"m%d\n" % i
    try:
        writer.write(msg)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(msg)), 10)
        return got == msg
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        return False


async def client(port, n, path, gets):
    tunnels = []
    i = 0
    while i < n:
        batch = range(i, min(i + 100, n))
        got = await asyncio.gather(*(open_tunnel(port, path, j) for j in batch))
        ok = [t for t in got if t]
        tunnels += ok
        i += len(batch)
        if not ok:
            break
    await asyncio.sleep(0.5)
    times = []
    for _ in range(gets):
        times.append(await timed_get(port))
    answered = [t for t in times if t is not None]
    echoed = await asyncio.gather(*(echo(t, k) for k, t in enumerate(tunnels)))
    for _, w in tunnels:
        w.close()
    print("held=%d echoed=%d get_ok=%d/%d get_median_ms=%s get_max_ms=%s"
          % (len(tunnels), sum(echoed), len(answered), gets,
             "%.2f" % statistics.median(answered) if answered else "-",
             "%.2f" % max(answered) if answered else "-"))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "backend":
        asyncio.run(backend(int(sys.argv[2])))
    elif len(sys.argv) >= 5 and sys.argv[1] == "client":
        gets = int(sys.argv[5]) if len(sys.argv) > 5 else 5
        asyncio.run(client(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], gets))
    else:
        sys.exit("usage: ws_load.py backend PORT | client PORT N PATH [GETS]")


if __name__ == "__main__":
    main()
