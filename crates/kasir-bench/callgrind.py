#!/usr/bin/env python3
"""Instructions a request costs, counted by callgrind: callgrind.py BIN N [hook|nohook|get].

Starts `BIN serve --sandbox-delay 1h --no-workers` on a fresh SQLite file under valgrind's callgrind,
sends N create+confirm pairs over one keep-alive connection (with a `webhook_url` for `hook`, the
default; without one for `nohook`), or N GETs of one payin (`get`), stops it with SIGTERM, and prints
the run's total instructions. Run it for two N and divide: per request = (Ir(N2) - Ir(N1)) / (N2 - N1),
which leaves start-up and shutdown out. Compare two builds in alternated runs (docs/benchmarks.md)."""
import base64, http.client, json, os, re, signal, socket, subprocess, sys, tempfile, time

BIN, N = sys.argv[1], int(sys.argv[2])
MODE = sys.argv[3] if len(sys.argv) > 3 else "hook"
AK = "ak_test_YLSUAE0V4BHJH8X486OC"
SK = "sk_test_HM8C7HERWPf85OfqB1xKMBI1iD6uVa12QcvTNYyRaHxQf5S9oieKh9Vsz87rxmHJZJW2LwUsCRcdVmDtwE8CEducHQtg5T3V9u6ImAinvGb28VyxSUYlM1LYiemO4Lqm"
AUTH = "Basic " + base64.b64encode(f"{AK}:{SK}".encode()).decode()

d = tempfile.mkdtemp()
db = f"sqlite://{d}/kasir.db"
subprocess.run([BIN, "--database", db, "keys", "add", "--access-key", AK, "--secret-key", SK],
               check=True, capture_output=True)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
out = f"{d}/cg.out"
p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", BIN, "--database", db,
                      "serve", "--listen", f"127.0.0.1:{port}", "--sandbox-delay", "1h", "--no-workers"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(600):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60); c.connect(); break
    except OSError:
        time.sleep(0.1)
H = {"authorization": AUTH, "content-type": "application/json"}

def call(method, path, body=None):
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
    r = c.getresponse(); data = r.read()
    assert r.status == 200, (r.status, data)
    return json.loads(data)

pay = {"invoice_currency": "IDR", "amount": 5000000, "transaction_description": "1 X Good"}
if MODE == "hook":
    pay["webhook_url"] = "http://127.0.0.1:9/hook"
conf = {"customer_details": {"name": "A", "email": "a@example.com", "country": "ID"},
        "payment_method_details": {"type": "ovo_idr", "ovo_idr": {"phone": {"calling_code": "62", "number": "81234567890"}}}}
if MODE == "get":
    pid = call("POST", "/v3/payin", pay)["data"]["id"]
    for _ in range(N):
        call("GET", f"/v3/payin/{pid}")
else:
    for _ in range(N):
        pid = call("POST", "/v3/payin", pay)["data"]["id"]
        call("POST", f"/v3/payin/{pid}/confirm", conf)
c.close()
p.send_signal(signal.SIGTERM); p.wait()
text = open(out).read()
m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
print(int(m.group(1)))
