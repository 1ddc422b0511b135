# imgseal boot test: the guest's report. cloud-init runs this from the NoCloud seed's
# user-data (runcmd); it prints one JSON object between two marker lines on the second serial
# port (ttyS1, which only this script writes) and returns; cloud-init then powers off.
# Written for every Python cloud-init has run on (2.6 and later, 3.x): no f-strings, no
# subprocess.run, nothing outside the standard library.
import json
import os
import subprocess
import sys


def run(argv):
    """(exit status, stdout + stderr) of argv, or (None, why) when it cannot run."""
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.communicate()[0]
        if not isinstance(out, str):
            out = out.decode("utf-8", "replace")
        return p.returncode, out
    except OSError as e:
        return None, str(e)


def read(path):
    try:
        f = open(path)
        try:
            return f.read()
        finally:
            f.close()
    except (IOError, OSError):
        return None


def have(cmd):
    for d in os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":") + [
        "/usr/sbin", "/sbin", "/usr/bin", "/bin"
    ]:
        if os.access(os.path.join(d, cmd), os.X_OK):
            return True
    return False


def os_release():
    info = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = read(path)
        if text is None:
            continue
        for line in text.splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                info[k.strip()] = v.strip().strip("\"'")
        break
    return {"id": info.get("ID", ""), "version_id": info.get("VERSION_ID", "")}


def cloud_init():
    ci = {"version": None, "package_version": None, "datasource": None, "errors": []}
    code, out = run(["cloud-init", "--version"])
    if code == 0 and out.strip():
        ci["version"] = out.strip().split()[-1]
    if have("dpkg-query"):
        code, out = run(["dpkg-query", "-W", "-f", "${Version}", "cloud-init"])
        if code == 0 and out.strip():
            ci["package_version"] = out.strip()
    if ci["package_version"] is None and have("rpm"):
        code, out = run(["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", "cloud-init"])
        if code == 0 and out.strip():
            ci["package_version"] = out.strip()
    status = read("/run/cloud-init/status.json")
    if status:
        try:
            v1 = json.loads(status).get("v1", {})
            ci["datasource"] = v1.get("datasource")
            for stage in ("init-local", "init", "modules-config"):
                s = v1.get(stage) or {}
                for e in s.get("errors") or []:
                    ci["errors"].append("%s: %s" % (stage, e))
        except ValueError:
            pass
    if not ci["datasource"]:
        ds = read("/var/lib/cloud/instance/datasource")
        if ds:
            ci["datasource"] = ds.strip()
    return ci


def firewalls():
    active = []
    if have("ufw"):
        code, out = run(["ufw", "status"])
        if code == 0 and "Status: active" in out:
            active.append({"name": "ufw", "detail": "ufw status: active"})
    code, out = run(["systemctl", "is-active", "firewalld"])
    if code == 0 and out.strip() == "active":
        active.append({"name": "firewalld", "detail": "firewalld.service is active"})
    for cmd in ("iptables", "ip6tables"):
        if not have(cmd):
            continue
        code, out = run([cmd, "-S"])
        if code != 0:
            continue
        rules = [l for l in out.splitlines() if l.startswith("-A ")]
        closed = [l for l in out.splitlines() if l.startswith("-P ") and not l.endswith(" ACCEPT")]
        if rules or closed:
            active.append({
                "name": cmd,
                "detail": "%d rule(s), %d chain(s) not ACCEPT by default" % (len(rules), len(closed)),
            })
    if have("nft"):
        code, out = run(["nft", "list", "ruleset"])
        if code == 0:
            rules = 0
            for l in out.splitlines():
                l = l.strip()
                if l and not (l.startswith("table ") or l.startswith("chain ") or l == "}"
                              or l.startswith("type ") or l.startswith("policy ")
                              or l.startswith("flags ") or l.startswith("#")):
                    rules += 1
            if rules:
                active.append({"name": "nftables", "detail": "%d rule(s) in the ruleset" % rules})
    return active


def network():
    primary = None
    text = read("/proc/net/route") or ""
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) > 2 and f[1] == "00000000":
            primary = f[0]
            break
    nics = []
    try:
        names = sorted(os.listdir("/sys/class/net"))
    except OSError:
        names = []
    for n in names:
        if n == "lo":
            continue
        mtu = read("/sys/class/net/%s/mtu" % n)
        nics.append({"name": n, "mtu": int(mtu) if mtu and mtu.strip().isdigit() else None})
    if primary is None and nics:
        primary = nics[0]["name"]
    return {"primary": primary, "default_route": primary is not None and bool(text), "nics": nics}


def reboot_required():
    for p in ("/run/reboot-required", "/var/run/reboot-required"):
        if os.path.exists(p):
            pkgs = (read(p + ".pkgs") or "").split()
            return {"required": True, "why": "%s exists%s" % (p, (" (" + ", ".join(pkgs) + ")") if pkgs else "")}
    if have("needs-restarting"):
        code, out = run(["needs-restarting", "-r"])
        if code == 1:
            return {"required": True, "why": "needs-restarting -r: " + out.strip().splitlines()[0] if out.strip() else "needs-restarting -r"}
    return {"required": False, "why": ""}


def failed_units():
    code, out = run(["systemctl", "--failed", "--no-legend", "--plain"])
    if code != 0:
        return None
    return [l.split()[0] for l in out.splitlines() if l.split()]


def main():
    uptime = read("/proc/uptime")
    report = {
        "imgseal_boot_report": 1,
        "os": os_release(),
        "kernel": os.uname()[2],
        "uptime_s": float(uptime.split()[0]) if uptime else None,
        "cloud_init": cloud_init(),
        "firewalls": firewalls(),
        "network": network(),
        "reboot": reboot_required(),
        "failed_units": failed_units(),
    }
    line = json.dumps(report, sort_keys=True)
    try:
        port = open("/dev/ttyS1", "w")
    except (IOError, OSError):
        port = sys.stdout
    port.write("\nIMGSEAL-BOOT-REPORT-BEGIN\n" + line + "\nIMGSEAL-BOOT-REPORT-END\n")
    port.flush()


main()
