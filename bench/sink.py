#!/usr/bin/env python3
# bench/sink.py -- an upload backend for bench/upload.sh: reads each
# request's whole body (Content-Length or chunked), then answers
# "200" with the number of body bytes it read; keep-alive.
#
#   sink.py PORT
import asyncio
import sys


async def body_length(reader, head):
    lower = head.lower()
    if b"\ntransfer-encoding:" in lower and b"chunked" in lower:
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return total
            left = size
            while left:
                left -= len(await reader.read(min(left, 1 << 20)))
            await reader.readexactly(2)
            total += size
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            left = total = int(line.split(b":", 1)[1])
            while left:
                chunk = await reader.read(min(left, 1 << 20))
                if not chunk:
                    raise ConnectionError("short body")
                left -= len(chunk)
            return total
    return 0


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = await body_length(reader, head)
            msg = b"%d\n" % n
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(msg), msg))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError,
            asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
