"""Verifier side of camsim's SEI watermark (see tools/camsim/sei.h).

parse_sei(annexb_bytes) scans an Annex-B H.264 elementary stream and returns
[(camera_id_hex, seq, capture_us), ...] in stream order, one per camsim SEI
found. Stdlib only; safe on truncated or garbage input (bad NAL units are
skipped, never raise)."""
import struct

# Must match CAMSIM_SEI_UUID in sei.h: 6d0f2a8c-3b71-4e59-9a04-c5e81d7b22f6
CAMSIM_UUID = bytes.fromhex("6d0f2a8c3b714e599a04c5e81d7b22f6")
PAYLOAD_LEN = 48


def annexb_nals(data):
    """Yields NAL units (without start codes) of an Annex-B stream."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        nal = data[s:e].rstrip(b"\x00")  # trailing zeros / the 4-byte start code's leading zero
        if nal:
            yield nal


def unescape(payload):
    """Removes emulation prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for b in payload:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _ff_coded(rbsp, i):
    """An SEI payload type or size (a run of 0xFF bytes, each worth 255, then
    the last byte) at i: (value, next index), or (None, i) when truncated."""
    value, n = 0, len(rbsp)
    while i < n and rbsp[i] == 0xFF:
        value += 255
        i += 1
    if i >= n:
        return None, i
    return value + rbsp[i], i + 1


def _sei_messages(rbsp):
    """Yields (payload_type, payload bytes) of an SEI RBSP (without NAL header)."""
    i, n = 0, len(rbsp)
    while i < n:
        if rbsp[i] == 0x80 and i == n - 1:  # rbsp_trailing_bits
            return
        ptype, i = _ff_coded(rbsp, i)
        size, i = _ff_coded(rbsp, i)
        if ptype is None or size is None or i + size > n:
            return
        yield ptype, rbsp[i:i + size]
        i += size


def parse_sei_nal(nal):
    """Returns (camera_id_hex, seq, capture_us) for one camsim SEI NAL unit
    (with its header byte), or None."""
    if not nal or (nal[0] & 0x1F) != 6:
        return None
    for ptype, payload in _sei_messages(unescape(nal[1:])):
        if ptype == 5 and len(payload) >= PAYLOAD_LEN and payload[:16] == CAMSIM_UUID:
            seq, cap = struct.unpack(">QQ", payload[32:48])
            return payload[16:32].hex(), seq, cap
    return None


def parse_sei(annexb_bytes):
    """Every camsim watermark in an Annex-B stream, in order."""
    out = []
    for nal in annexb_nals(bytes(annexb_bytes)):
        r = parse_sei_nal(nal)
        if r is not None:
            out.append(r)
    return out


def access_units(annexb_bytes):
    """Splits an Annex-B stream into access units (lists of NAL units), a new
    one starting at an AUD/SEI/SPS/PPS after a slice, or at a slice with
    first_mb_in_slice == 0 after a slice. For checking that every access unit
    carries a watermark."""
    aus, cur, has_vcl = [], [], False
    for nal in annexb_nals(bytes(annexb_bytes)):
        t = nal[0] & 0x1F
        vcl = 1 <= t <= 5
        if has_vcl and ((6 <= t <= 9) or (vcl and len(nal) > 1 and nal[1] & 0x80)):
            aus.append(cur)
            cur, has_vcl = [], False
        cur.append(nal)
        has_vcl = has_vcl or vcl
    if cur and has_vcl:
        aus.append(cur)
    return aus


if __name__ == "__main__":
    import sys
    with open(sys.argv[1], "rb") as f:
        for cam, seq, cap in parse_sei(f.read()):
            print(cam, seq, cap)
