"""Accuracy, refusals and speed of ``actiondubber sync`` (audio–picture offset).

    python benchmarks/bench_sync.py                       # 12 real clips + 6 synthetic clips
    python benchmarks/bench_sync.py --long                # also: sync on a 10-minute synthetic video (slow)
    python benchmarks/bench_sync.py --long --no-accuracy  # only the 10-minute timing

1. Native offsets: every real clip in ../shared/data/real (offset, ±, matched impacts, confidence,
   or the refusal). On the 5 Greatest Hits clips with a human key, the "truth" is the mean of
   (audio key frame − human key frame) / fps over events matched within 2 frames. The audio key
   comes from librosa's default onsets (2048/512), which on the synthetic clips (sound starting at
   a known sample) peak about 20 ms after the sound starts, so the truth is also shown minus 20 ms,
   and as the mean of (nearest short-frame onset − human key frame time), the onsets sync uses.
2. Injected shifts −300…+300 ms (50 ms steps): the decoded soundtrack is shifted in memory by whole
   samples (what ``sync --fix`` writes, without the AAC re-encode) and measured again against the
   same picture. Error = |estimate − (native + shift)| for real clips with a native estimate,
   |estimate − shift| for synthetic clips (their native offset is 0 by construction). Median and
   90th percentile of the error, and the share of refusals.
3. Music rejection: synthetic music alone, and mixed at equal RMS into each clip's own soundtrack.
   Then the speech/music classifier alone (``classify_soundtrack``), with silero-vad (``vad``) and
   with the pitch rule (``rule``): precision and recall of "reject" over soundtracks that should be
   rejected (synthetic music alone; formant-synthesised speech alone, ``speech_like_wave``, as no
   recorded speech is available here; and each real and synthetic clip's own sound with music or
   speech mixed in at equal RMS) and soundtracks that should be kept (the clips' own sound); speech
   mixed in at -12 dB (a voice in the background) is shown but not scored (either answer defensible).
4. Speed (--long): ``sync`` on a 10-minute 320x240 synthetic video, wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import HUMAN_KEY, REAL, RESULTS, ROOT, run_main  # noqa: F401

from actiondubber.audio import AudioClip, read_audio_clip
from actiondubber.detection import detect
from actiondubber.evaluate.labels import read_labels
from actiondubber.sync import SyncRefused, measure_offset
from actiondubber.sync.fix import shift_samples
from actiondubber.sync.soundtype import classify_soundtrack
from actiondubber.synth import render_clip
from actiondubber.synth.audio import music_wave, speech_like_wave

SHIFTS_MS = list(range(-300, 301, 50))
SYNTH = [("bounce", 0), ("walls", 1), ("juggle", 2), ("bounce", 3), ("mixed", 4), ("pan", 5)]
LIBROSA_LATE_MS = 20.0


def shifted(clip: AudioClip, ms: float) -> AudioClip:
    return AudioClip(clip.path, shift_samples(clip.samples[None, :], int(round(ms / 1000 * clip.sr)))[0], clip.sr,
                     clip.start)


def measure(path, events, audio):
    try:
        return measure_offset(path, events=events, audio=audio)
    except SyncRefused as exc:
        return str(exc).split(": ", 1)[-1]


def onset_truth(vid: str, events, audio: AudioClip) -> float | None:
    """Mean of (nearest short-frame onset − human key frame time) over the human key's events (within 100 ms)."""
    human = read_labels(HUMAN_KEY).videos.get(vid)
    if human is None:
        return None
    aud = onset_times(audio)
    d = []
    for f in human.frames:
        t = events.video.time_of(f)
        k = np.argmin(np.abs(aud - t))
        if abs(aud[k] - t) <= 0.1:
            d.append(aud[k] - t)
    return 1000.0 * float(np.mean(d)) if d else None


def onset_times(audio: AudioClip) -> np.ndarray:
    """Every onset the offset estimate sees (its short-frame onsets, peaks of the prominence)."""
    from actiondubber.audio import peak_pick
    from actiondubber.sync import onset_envelope

    env = onset_envelope(audio)
    v = env.values - np.median(env.values)
    step = env.step
    pk = peak_pick(v, pre_max=int(0.03 / step), post_max=1, pre_avg=int(0.1 / step), post_avg=int(0.1 / step) + 1,
                   delta=0.05 * float(np.sort(v)[-3]), wait=int(0.03 / step))
    return env.times[pk]


def key_truth(vid: str, fps: float) -> float | None:
    human = read_labels(HUMAN_KEY).videos.get(vid)
    audio = read_labels(REAL / "labels_audio_onsets.csv").videos.get(vid)
    if human is None or audio is None:
        return None
    a = np.array(audio.frames)
    d = [a[np.argmin(np.abs(a - h))] - h for h in human.frames]
    d = [x for x in d if abs(x) <= 2]
    return 1000.0 * float(np.mean(d)) / fps if d else None


def fmt(res) -> str:
    if isinstance(res, str):
        return f"refused: {res}"
    return (f"{res.offset * 1000:+7.1f} ms ±{res.uncertainty * 1000:4.1f}  n={res.n_impacts:2d}/{res.n_visual:2d}  "
            f"conf {res.confidence:.2f} ({res.confidence_label})  sharp {res.sharpness:.2f}  "
            f"chance {res.chance_share:.2f}")


def sweep(name, path, events, audio, native_ms, errors, refusals):
    """Measure every injected shift; *errors* gets ``(|error| ms, confidence)`` pairs."""
    for ms in SHIFTS_MS:
        res = measure(path, events, shifted(audio, ms))
        if isinstance(res, str):
            refusals.append(1)
            continue
        refusals.append(0)
        if native_ms is not None:
            errors.append((abs(res.offset * 1000 - (native_ms + ms)), res.confidence))


def summary(label, errors, refusals):
    def tail(e):
        e = np.array(e)
        return f"median {np.median(e):.1f} ms, p90 {np.percentile(e, 90):.1f} ms over {e.size}" if e.size else "none"
    sure = [e for e, c in errors if c >= 0.35]
    print(f"{label}: |error| {tail([e for e, _ in errors])}; refused {sum(refusals)}/{len(refusals)}; "
          f"estimates with confidence >= 0.35 (medium/high): {tail(sure)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--long", action="store_true", help="also time sync on a 10-minute video")
    ap.add_argument("--no-accuracy", action="store_true", help="skip parts 1-3")
    ap.add_argument("--only-rejection", action="store_true", help="only the speech/music classifier of part 3")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_sync."))
    if args.only_rejection:
        rejection(tmp)
        return
    if not args.no_accuracy:
        accuracy(tmp)
        rejection(tmp)
    if args.long:
        speed(tmp)


def accuracy(tmp: Path) -> None:
    clips = sorted([*REAL.glob("*.mp4"), *REAL.glob("*.avi")]) if REAL.is_dir() else []
    if not clips:
        print(f"(no real clips in {REAL}; real-clip rows skipped)")
    print("== 1. native offsets, real clips ==")
    real_err, real_ref, music_rows, per_clip = [], [], [], []
    for p in clips:
        t0 = time.perf_counter()
        events = detect(p)
        audio = read_audio_clip(p, sr=22050)
        res = measure(p, events, audio)
        dt = time.perf_counter() - t0
        truth = key_truth(p.stem, events.video.fps)
        truth2 = onset_truth(p.stem, events, audio)
        tr = "" if truth is None else (f"  | truth: audio key − human key {truth:+.1f} ms "
                                       f"(minus librosa lateness {truth - LIBROSA_LATE_MS:+.1f}); "
                                       f"short-frame onsets − human key {truth2:+.1f} ms")
        print(f"{p.stem:34s} {fmt(res)}{tr}  [{dt:.1f} s]")
        native = None if isinstance(res, str) else res.offset * 1000
        errs, refs = [], []
        sweep(p.stem, p, events, audio, native, errs, refs)
        per_clip.append((p.stem, errs, refs))
        real_err += errs
        real_ref += refs
        m = music_wave(audio.duration, audio.sr)[: audio.samples.size]
        mix = (audio.samples + m * np.sqrt(np.mean(audio.samples**2) / np.mean(m**2))).astype(np.float32)
        music_rows.append((p.stem, measure(p, events, AudioClip(str(p), mix, audio.sr, audio.start))))
    print("\n== 2. injected shifts -300..+300 ms ==")
    for stem, errs, refs in per_clip:
        worst = f"max |error| {max(e for e, _ in errs):.1f} ms" if errs else "no native estimate"
        print(f"  {stem:34s} {worst}, refused {sum(refs)}/{len(refs)}")
    if clips:
        summary("real clips (vs native + shift)", real_err, real_ref)
    syn_err, syn_ref = [], []
    for scene, seed in SYNTH:
        c = render_clip(tmp / f"{scene}_{seed}.mp4", scene=scene, seconds=6.0, seed=seed)
        events = detect(c.path)
        audio = read_audio_clip(c.path, sr=22050)
        errs, refs = [], []
        sweep(scene, c.path, events, audio, 0.0, errs, refs)
        print(f"  synthetic {scene}_{seed}: max |error| {max(e for e, _ in errs) if errs else float('nan'):.1f} ms, "
              f"refused {sum(refs)}/{len(refs)}")
        syn_err += errs
        syn_ref += refs
        only = AudioClip(c.path, music_wave(audio.duration, audio.sr), audio.sr, audio.start)
        music_rows.append((f"synthetic {scene}_{seed}, music only", measure(c.path, events, only)))
    summary("synthetic clips (vs shift)", syn_err, syn_ref)
    print("\n== 3. music mixed in (equal RMS to the clip's own sound) / music only ==")
    for name, res in music_rows:
        print(f"  {name:44s} {'REFUSED' if isinstance(res, str) else 'measured'}: "
              f"{res if isinstance(res, str) else fmt(res)}")
    n_ref = sum(isinstance(r, str) for _, r in music_rows)
    print(f"  refused {n_ref}/{len(music_rows)}")


def _mix(own: np.ndarray, other: np.ndarray, db: float = 0.0) -> np.ndarray:
    """*other* added to *own* at *db* relative to *own*'s RMS."""
    other = other[: own.size]
    g = np.sqrt(np.mean(own**2) / max(np.mean(other**2), 1e-12)) * 10 ** (db / 20)
    return (own + g * other).astype(np.float32)


def rejection(tmp: Path) -> None:
    """Precision/recall of the speech/music rejection, per speech detector."""
    print("\n== 3b. speech/music rejection: classify_soundtrack, reject = music or speech ==")
    sources = []
    for p in sorted([*REAL.glob("*.mp4"), *REAL.glob("*.avi")]) if REAL.is_dir() else []:
        sources.append((f"real {p.stem}", read_audio_clip(p, sr=22050)))
    for scene, seed in SYNTH:
        c = tmp / f"{scene}_{seed}.mp4"
        if not c.is_file():
            render_clip(c, scene=scene, seconds=6.0, seed=seed)
        sources.append((f"synthetic {scene}_{seed}", read_audio_clip(c, sr=22050)))
    cases = []  # (group, name, samples, sr, should_reject)
    for k, (name, a) in enumerate(sources):
        y, sr = a.samples, a.sr
        cases.append(("own sound", name, y, sr, False))
        quiet = _mix(y, speech_like_wave(a.duration + 1, sr, seed=k), -12)
        cases.append(("+ speech at -12 dB", name, quiet, sr, None))  # borderline: reported, not scored
        cases.append(("+ music, equal RMS", name, _mix(y, music_wave(a.duration + 1, sr, seed=k)), sr, True))
        cases.append(("+ speech, equal RMS", name, _mix(y, speech_like_wave(a.duration + 1, sr, seed=k)), sr, True))
    for k in range(6):
        cases.append(("music alone", f"music seed {k}", music_wave(8.0, 22050, seed=k), 22050, True))
        cases.append(("speech alone", f"speech seed {k}", speech_like_wave(8.0, 22050, seed=k), 22050, True))
    for how in ("vad", "rule"):
        t0 = time.perf_counter()
        got = {}
        for group, name, y, sr, bad in cases:
            v = classify_soundtrack(AudioClip(name, y, sr, 0.0), how)
            got.setdefault(group, []).append((bad, v.verdict != "impacts", v))
        dt = time.perf_counter() - t0
        tp = sum(b is True and r for rows in got.values() for b, r, _ in rows)
        fp = sum(b is False and r for rows in got.values() for b, r, _ in rows)
        fn = sum(b is True and not r for rows in got.values() for b, r, _ in rows)
        print(f"  speech detector {how!r}: rejection precision {tp / max(tp + fp, 1):.3f}, recall "
              f"{tp / max(tp + fn, 1):.3f} ({tp} right rejections, {fp} wrong, {fn} missed, over "
              f"{sum(c[4] is not None for c in cases)} scored soundtracks; {dt / len(cases) * 1000:.0f} ms each)")
        for group, rows in got.items():
            should = rows[0][0]
            n_rej = sum(r for _, r, _ in rows)
            verdicts = {}
            for _, _, v in rows:
                verdicts[v.verdict] = verdicts.get(v.verdict, 0) + 1
            share = [v.speech_share for _, _, v in rows if v.speech_share is not None]
            sh = f"; speech share median {np.median(share):.2f} [{min(share):.2f}–{max(share):.2f}]" if share else ""
            want = {True: "reject", False: "keep  ", None: "either"}[should]
            print(f"    {group:22s} should {want}: rejected {n_rej}/{len(rows)} "
                  f"({', '.join(f'{k} {n}' for k, n in sorted(verdicts.items()))}){sh}")
            wrong = [(v, nm) for (b, r, v), (_, nm, *_rest) in zip(rows, [c for c in cases if c[0] == group],
                                                                    strict=True) if b is not None and b != r]
            for v, nm in wrong[:4]:
                print(f"      wrong: {nm}: {v.verdict} ({v.reason})")


def speed(tmp: Path) -> None:
    """Wall time and peak memory of the ``sync`` command on a 10-minute video (a separate process)."""
    print("\n== 4. speed: sync on a 10-minute video ==")
    long = tmp / "long.mp4"
    t0 = time.perf_counter()
    render_clip(long, scene="mixed", seconds=600.0, seed=7)
    print(f"  rendered in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "actiondubber", "-q", "sync", str(long), "--json",
                           str(tmp / "long.json")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  exit {proc.returncode}: {proc.stdout.strip() or proc.stderr.strip()}")
    print(f"  wall {wall:.0f} s ({600 / wall:.1f}x real time), peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    run_main(main)
