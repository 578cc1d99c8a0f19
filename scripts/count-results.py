#!/usr/bin/python3
"""Prints 'passed failed names' for a meson testlog.json or a pytest junit xml."""
import json
import sys
import xml.etree.ElementTree as ET


def meson(path):
    p = f = 0
    names = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("result") in ("OK", "EXPECTEDFAIL"):
                p += 1
            elif r.get("result") == "SKIP":
                pass
            else:
                f += 1
                names.append(r.get("name", "?"))
    return p, f, names


def junit(path):
    p = f = 0
    names = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        bad = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        if bad:
            f += 1
            names.append(case.get("name", "?"))
        elif not skipped:
            p += 1
    return p, f, names


def main():
    kind, path = sys.argv[1], sys.argv[2]
    p, f, names = (meson if kind == "meson" else junit)(path)
    print(p, f, ",".join(names) or "-")


if __name__ == "__main__":
    main()
