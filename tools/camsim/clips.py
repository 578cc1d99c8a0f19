"""Per-camera clips for camsim: the camera's id drawn into the picture
(tests/integration/pattern.py), so that any decoded path (snapshot, MJPEG,
HLS) shows whose picture it is. Stdlib and the ffmpeg command line.

    make_clip(camera_id_hex, out_path, size=(320, 240), fps=25, seconds=4, gop=50, codec="h264")

writes a raw Annex-B elementary stream (what camsim --camera ID:SECRET:CLIP
loops). Frame i carries seq=i and wall_us=0: the picture code says which
camera, the SEI watermark camsim adds says when."""
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))
import pattern  # noqa: E402

ENCODERS = {"h264": ("libx264", "h264")}


def make_clip(camera_id_hex, out_path, size=(320, 240), fps=25, seconds=4, gop=50, codec="h264"):
    """Encodes the clip to out_path (written to a temporary name, then
    renamed: a reader never sees half a clip). Returns out_path."""
    if codec not in ENCODERS:
        raise ValueError(f"unsupported codec {codec!r} (camsim pushes H.264)")
    encoder, fmt = ENCODERS[codec]
    w, h = size
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
            "-c:v", encoder, "-preset", "ultrafast", "-g", str(gop), "-bf", "0", "-pix_fmt", "yuv420p",
            "-f", fmt, str(tmp)]
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for i in range(int(seconds * fps)):
            p.stdin.write(pattern.encode_frame(w, h, camera_id_hex, i, 0))
        p.stdin.close()
        err = p.stderr.read()
        rc = p.wait(timeout=120)
    except BaseException:
        p.kill()
        p.wait()
        tmp.unlink(missing_ok=True)
        raise
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed ({rc}): {err.decode(errors='replace')}")
    tmp.rename(out_path)
    return out_path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: clips.py CAMERA_ID_HEX OUT.h264")
    make_clip(sys.argv[1], sys.argv[2])
