"""Push then play: every codec and transport, byte-identical relay, instant start, fan-out."""
import subprocess
import time

import pytest

from conftest import SLOW, ffprobe_streams, make_clip, push_camera, wait_for, wait_live
from rtsp_client import Client, annexb_nals, h264_nal_types, rtp_header

EXPECT = {
    "h264_aac": ("h264", "aac"),
    "h265_opus": ("hevc", "opus"),
    "h264_pcmu": ("h264", "pcm_mulaw"),
    "h264_pcma": ("h264", "pcm_alaw"),
}


@pytest.mark.parametrize("profile", sorted(EXPECT))
@pytest.mark.parametrize("push_transport,play_transport", [("tcp", "tcp"), ("udp", "udp")])
def test_push_then_play_each_codec(server, procs, profile, push_transport, play_transport):
    srv = server()
    cam = srv.add_camera(f"cam-{profile}")
    push_camera(procs, make_clip(profile), cam["ingest_url"], transport=push_transport)
    wait_live(srv, cam["id"])

    streams = ffprobe_streams(srv.url(cam["id"]), transport=play_transport)
    codecs = sorted(s["codec_name"] for s in streams)
    assert codecs == sorted(EXPECT[profile]), streams
    video = next(s for s in streams if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (320, 240)

    # Decode for real: a viewer receives and decodes both tracks.
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", play_transport,
                        "-i", srv.url(cam["id"]), "-t", "3", "-map", "0", "-f", "null", "-",
                        "-progress", "pipe:1"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    frames = [int(line.split("=")[1]) for line in r.stdout.splitlines() if line.startswith("frame=")]
    assert frames and frames[-1] >= 40, r.stdout[-500:]


def test_nal_units_are_byte_identical(server, procs, tmp_path):
    srv = server()
    cam = srv.add_camera("exact")
    clip = make_clip("h264_only", seconds=10)
    ref = tmp_path / "ref.h264"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(clip), "-c", "copy", "-f", "h264", str(ref)],
                   check=True, timeout=60)
    push_camera(procs, clip, cam["ingest_url"], loop=True)
    wait_live(srv, cam["id"])
    out = tmp_path / "out.h264"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", srv.url(cam["id"]),
                    "-t", "4", "-c", "copy", "-f", "h264", str(out)], check=True, timeout=60 * SLOW)

    def slices(path):  # VCL NAL units only: parameter sets may be re-inserted by the muxer
        return [n for n in annexb_nals(path.read_bytes()) if n and (n[0] & 0x1F) in (1, 5)]

    ref_nals, out_nals = slices(ref), slices(out)
    assert len(out_nals) >= 50
    # The viewer joined mid-loop: its NAL units must be an exact contiguous run
    # of the camera's (the clip loops, so search the doubled sequence).
    loop = ref_nals + ref_nals + ref_nals
    start = next((i for i, n in enumerate(loop) if n == out_nals[0]), None)
    assert start is not None, "first received NAL unit is not one the camera sent"
    for k, nal in enumerate(out_nals[: len(loop) - start]):
        assert nal == loop[start + k], f"NAL {k} differs from the camera's"
    # And it started on a keyframe (IDR), thanks to the prebuffer.
    assert out_nals[0][0] & 0x1F == 5


def test_new_viewer_starts_at_keyframe_from_prebuffer(server, procs):
    srv = server()
    cam = srv.add_camera("gop")
    push_camera(procs, make_clip("h264_only", gop=50), cam["ingest_url"])
    wait_live(srv, cam["id"])
    time.sleep(1.0)  # be mid-GOP: the next keyframe is up to 2 s away
    for _ in range(3):
        c = Client("127.0.0.1", srv.port)
        t0 = time.monotonic()
        r = c.play_tcp(srv.url(cam["id"]))
        assert r.status == 200
        assert "rtp-info" in r.headers and "seq=" in r.header("rtp-info")
        types = []
        while not types:
            ch, pkt = c.read_packet(timeout=5 * SLOW)
            if ch == 0:
                types = h264_nal_types(rtp_header(pkt)[5])
        elapsed = time.monotonic() - t0
        c.close()
        # First video NAL is a parameter set or the IDR itself, never a P slice.
        assert types[0] in (5, 7, 8, 6, 9), types
        assert elapsed < 1.0 * SLOW, f"first packet took {elapsed:.3f}s"


def test_twenty_simultaneous_viewers(server, procs):
    srv = server()
    cam = srv.add_camera("popular")
    push_camera(procs, make_clip("h264_aac"), cam["ingest_url"])
    wait_live(srv, cam["id"])
    viewers = []
    for i in range(20):
        viewers.append(procs(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
                              "-rtsp_transport", "tcp" if i % 2 == 0 else "udp",
                              "-i", srv.url(cam["id"]), "-t", "4", "-map", "0", "-c", "copy", "-f", "null", "-",
                              "-progress", "pipe:1"]))
    for v in viewers:
        assert v.wait(90) == 0, v.text()[-800:]
    for v in viewers:
        frames = [int(line.split("=")[1]) for line in v.out if line.startswith("frame=")]
        assert frames and frames[-1] >= 75, f"viewer got {frames[-1:]} frames"
    assert srv.alive()


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_gstreamer_rtspsrc_plays_video_and_audio(server, procs, protocol):
    srv = server()
    cam = srv.add_camera("gst")
    push_camera(procs, make_clip("h264_aac"), cam["ingest_url"])
    wait_live(srv, cam["id"])
    # Both of rtspsrc's pads are linked and decoded; each sink ends after 50 buffers.
    r = subprocess.run(["gst-launch-1.0", "-q", "rtspsrc", "name=s", f"location={srv.url(cam['id'])}",
                        f"protocols={protocol}",
                        "s.", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "num-buffers=50",
                        "s.", "!", "rtpmp4gdepay", "!", "aacparse", "!", "avdec_aac", "!", "fakesink", "num-buffers=50"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: srv.find(rf"plays camera .*\({protocol.upper()}\)"), 5, f"a {protocol} session to be logged")
