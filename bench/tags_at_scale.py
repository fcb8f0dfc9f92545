#!/usr/bin/env python3
"""Seeds one repository with many tags through berth's /v2/ API and measures the tag
listings; called by bench/tags-at-scale.sh (standard library only).

Seeding pushes one small image (config, layer, manifest) and then PUTs the same manifest
under every tag name, from a few threads with one keep-alive connection each. Tag names
are a permutation of t000000.. so that name order and push order differ. Before
measuring, every time-ordered listing is walked once in pages of 1000 to check that it
returns each tag exactly once and to find cursors deep in the listing.

Each query is then sent REPEAT times, one after another on one keep-alive connection
after 20 warm-up requests; the table shows median, p95 and max of the client-side
latency (request written to last body byte read) and the server CPU time per request.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

REPO = "bench/tags"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TARGET_MS = 50.0


class Conn:
    """One keep-alive connection sending the owner's basic credentials."""

    def __init__(self, base, auth):
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        self.auth = auth

    def request(self, method, path, body=None, headers=None):
        h = {"Authorization": self.auth}
        h.update(headers or {})
        self.conn.request(method, path, body=body, headers=h)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data

    def expect(self, status, method, path, body=None, headers=None):
        got, hdrs, data = self.request(method, path, body, headers)
        if got != status:
            sys.exit(f"{method} {path}: {got} {data[:300]!r}")
        return hdrs, data


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(conn, data):
    d = digest(data)
    path = f"/v2/{REPO}/blobs/uploads/?digest={d}"
    conn.expect(201, "POST", path, data, {"Content-Type": "application/octet-stream"})
    return {"mediaType": "", "digest": d, "size": len(data)}


def tag_name(i, count):
    # A permutation of 0..count-1 (the multiplier is prime to any count this script is
    # run with unless it divides it), so that name order is not push order.
    step = 7919 if count % 7919 else 7907
    return f"t{(i * step) % count:06d}"


def seed(base, auth, count, workers):
    conn = Conn(base, auth)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"one small layer for a hundred thousand tags"
    c = push_blob(conn, config)
    c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    l = push_blob(conn, layer)
    l["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                           "config": c, "layers": [l]}).encode()
    errors = []
    done = [0]
    lock = threading.Lock()

    def work(worker):
        wc = Conn(base, auth)
        for i in range(worker, count, workers):
            status, _, data = wc.request("PUT", f"/v2/{REPO}/manifests/{tag_name(i, count)}",
                                         manifest, {"Content-Type": MANIFEST})
            if status != 201:
                errors.append(f"{status} {data[:200]!r}")
                return
            with lock:
                done[0] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(5)
        print(f"  seeded {done[0]}/{count} in {time.monotonic() - start:.0f} s",
              file=sys.stderr)
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"seeding failed: {errors[0]}")
    return time.monotonic() - start


def walk(conn, order, count):
    """Walks a listing in pages of 1000; returns every name in order and the `next`
    cursor after each page."""
    path = f"/api/v1/repositories/{REPO}/_tags?orderby={order}&n=1000"
    seen = set()
    listed = []
    cursors = []
    while True:
        _, data = conn.expect(200, "GET", path)
        page = json.loads(data)
        for t in page["tags"]:
            if t["name"] in seen:
                sys.exit(f"{order}: {t['name']} listed twice")
            seen.add(t["name"])
            listed.append(t["name"])
        if page["next"] is None:
            break
        cursors.append(page["next"])
        path = (f"/api/v1/repositories/{REPO}/_tags?orderby={order}&n=1000&last="
                + urllib.parse.quote(page["next"], safe=""))
    if len(seen) != count:
        sys.exit(f"{order}: walked {len(seen)} tags, expected {count}")
    return listed, cursors


def cpu_seconds(pid):
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(conn, path, repeat, pid, check):
    for _ in range(20):
        conn.expect(200, "GET", path)
    times = []
    cpu0 = cpu_seconds(pid)
    body = b""
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, body = conn.expect(200, "GET", path)
        times.append((time.perf_counter() - t0) * 1000)
    cpu1 = cpu_seconds(pid)
    check(json.loads(body))
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
    cpu = None if cpu0 is None else (cpu1 - cpu0) / repeat * 1000
    return statistics.median(times), p95, times[-1], cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--tags", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--server-pid", type=int)
    args = ap.parse_args()

    password = open(args.password_file).read().strip()
    auth = "Basic " + base64.b64encode(f"owner:{password}".encode()).decode()
    count = args.tags
    print(f"seeding {count} tags with {args.workers} workers", file=sys.stderr)
    seconds = seed(args.base, auth, count, args.workers)
    print(f"seeded in {seconds:.1f} s ({count / seconds:.0f} tags/s)", file=sys.stderr)

    conn = Conn(args.base, auth)
    desc, desc_cursors = walk(conn, "time_desc", count)
    asc, asc_cursors = walk(conn, "time_asc", count)
    by_name, _ = walk(conn, "name", count)
    names = sorted(tag_name(i, count) for i in range(count))
    if by_name != names:
        sys.exit("orderby=name is not byte order")
    if asc != desc[::-1]:
        sys.exit("orderby=time_asc is not time_desc reversed")
    middle, near_end = names[count // 2], names[count - 150]
    newest, oldest = desc[:10], asc[:10]
    print(f"walked every order in pages of 1000: each tag once", file=sys.stderr)

    def api(query):
        return f"/api/v1/repositories/{REPO}/_tags?{query}"

    def tags_of(page):
        return [t["name"] for t in page["tags"]]

    def expect_tags(expected):
        def check(page):
            got = tags_of(page)
            if got != expected:
                sys.exit(f"unexpected page: {got[:5]}... expected {expected[:5]}...")
        return check

    def expect_len(n, key="tags"):
        def check(page):
            if len(page[key]) != n:
                sys.exit(f"page of {len(page[key])}, expected {n}")
        return check

    def expect_v2(expected):
        def check(page):
            if page["tags"] != expected:
                sys.exit(f"/v2 page differs: {page['tags'][:3]}... expected {expected[:3]}...")
        return check

    def v2_page(after):
        i = names.index(after) + 1
        return expect_v2(names[i:i + 100])

    def after_cursor(cursors, k, listed):
        """The query value of the k-th cursor and the 100 names that follow it."""
        return (urllib.parse.quote(cursors[k], safe=""),
                expect_tags(listed[(k + 1) * 1000:(k + 1) * 1000 + 100]))

    deep_desc, deep_desc_check = after_cursor(desc_cursors, len(desc_cursors) - 1, desc)
    mid = len(desc_cursors) // 2
    mid_desc, mid_desc_check = after_cursor(desc_cursors, mid, desc)
    deep_asc, deep_asc_check = after_cursor(asc_cursors, len(asc_cursors) - 1, asc)
    deep_in = len(desc_cursors) * 1000
    queries = [
        ("show-tags --top 10: _tags?orderby=time_desc&n=10",
         api("orderby=time_desc&n=10"), expect_tags(newest)),
        ("/v2 tags/list?n=100&last=<middle>",
         f"/v2/{REPO}/tags/list?n=100&last={middle}", v2_page(middle)),
        ("/v2 tags/list?n=100&last=<150 from the end>",
         f"/v2/{REPO}/tags/list?n=100&last={near_end}", v2_page(near_end)),
        ("/v2 tags/list?n=100 (first page)",
         f"/v2/{REPO}/tags/list?n=100", expect_v2(names[:100])),
        ("_tags?orderby=time_asc&n=10", api("orderby=time_asc&n=10"), expect_tags(oldest)),
        ("_tags?orderby=name&n=10", api("orderby=name&n=10"), expect_tags(names[:10])),
        (f"_tags?orderby=time_desc&n=100&last=<{(mid + 1) * 1000} in>",
         api(f"orderby=time_desc&n=100&last={mid_desc}"), mid_desc_check),
        (f"_tags?orderby=time_desc&n=100&last=<{deep_in} in>",
         api(f"orderby=time_desc&n=100&last={deep_desc}"), deep_desc_check),
        (f"_tags?orderby=time_asc&n=100&last=<{deep_in} in>",
         api(f"orderby=time_asc&n=100&last={deep_asc}"), deep_asc_check),
        ("_tags?orderby=name&n=100&last=<150 from the end>",
         api(f"orderby=name&n=100&last={near_end}"),
         expect_tags(names[count - 149:count - 49])),
        ("_tags?orderby=time_desc&n=1000 (largest page)",
         api("orderby=time_desc&n=1000"), expect_len(1000)),
    ]
    print(f"\n{count} tags in {REPO}; {args.repeat} sequential requests per query, "
          f"one keep-alive connection, basic credentials\n")
    print("| query | median ms | p95 ms | max ms | server CPU ms/req | < 50 ms |")
    print("|---|---:|---:|---:|---:|---|")
    worst = 0.0
    for label, path, check in queries:
        med, p95, mx, cpu = measure(conn, path, args.repeat, args.server_pid, check)
        cpu_text = "" if cpu is None else f"{cpu:.2f}"
        verdict = "yes" if p95 < TARGET_MS else "NO"
        worst = max(worst, p95)
        print(f"| {label} | {med:.2f} | {p95:.2f} | {mx:.2f} | {cpu_text} | {verdict} |")
        sys.stdout.flush()
    print(f"\nworst p95: {worst:.2f} ms")


if __name__ == "__main__":
    main()
