"""Speak the 35 Google Speech Commands keywords with espeak-ng and save them as GSC-like clips:
16 kHz mono int16, the word centred in 1 s (cut to 1 s when longer), one clip per keyword and
voice setting, into tests/data/gsc-espeak/keywords.npz (arrays audio, label, voice).

The keywords test of NeuroBench's SNN (tests/test_neurobench_gsc.py) reads the committed file,
so tests never run espeak-ng; this script regenerates it (Debian package espeak-ng, installed by
scripts/setup-system.sh). Usage: python scripts/make_gsc_speech.py [OUT.npz]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from gsc_speech import GSC_WORDS, RATE, SPEECH_FILE

# (espeak-ng voice+variant, words per minute, pitch 0-99): male and female variants of four
# accents, slow to fast, low to high.
VOICES = (
    ("en-us+m3", 150, 45),
    ("en-gb+f3", 140, 60),
    ("en-us+f2", 170, 70),
    ("en-gb-scotland+m1", 130, 35),
    ("en-029+m5", 160, 50),
    ("en-gb-x-rp+f4", 120, 55),
)


def speak(word: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of word as int16, with its sample rate (22,050 Hz)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "w.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                        "-w", str(wav), word], check=True, capture_output=True)
        with wave.open(str(wav)) as f:
            if f.getnchannels() != 1 or f.getsampwidth() != 2:
                raise SystemExit(f"espeak-ng wrote {wav} in an unexpected format")
            return np.frombuffer(f.readframes(f.getnframes()), np.int16), f.getframerate()


def gsc_clip(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resampled to 16 kHz, trimmed to where it is audible (1 % of its peak), centred in 1 s."""
    audio = resample_poly(samples.astype(np.float64), RATE, rate)
    loud = np.nonzero(np.abs(audio) > 0.01 * np.abs(audio).max())[0]
    audio = audio[loud[0]:loud[-1] + 1][:RATE]
    clip = np.zeros(RATE)
    start = (RATE - len(audio)) // 2
    clip[start:start + len(audio)] = audio
    return np.clip(np.rint(clip), -32768, 32767).astype(np.int16)


def main(out: Path = SPEECH_FILE) -> None:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed: run scripts/setup-system.sh")
    audio, label, voice = [], [], []
    for voice_setting in VOICES:
        for index, word in enumerate(GSC_WORDS):
            audio.append(gsc_clip(*speak(word, *voice_setting)))
            label.append(index)
            voice.append("{} -s {} -p {}".format(*voice_setting))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, audio=np.stack(audio), label=np.array(label, np.int8),
                        voice=np.array(voice))
    print(f"wrote {out}: {len(audio)} clips, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SPEECH_FILE)
