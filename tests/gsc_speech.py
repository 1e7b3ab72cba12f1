"""Speech for NeuroBench's keyword-spotting SNN without the Google Speech Commands audio: the 35
GSC keywords spoken by espeak-ng (tests/data/gsc-espeak, made by scripts/make_gsc_speech.py) and
the S2S (speech2spikes) encoding the model was trained on, written here in numpy.

S2S as NeuroBench applies it (Stewart et al., "Speech2Spikes", NICE 2023, doi
10.1145/3584954.3584995; the neurobench wheel's `processors/preprocessors/speech2spikes.py`,
whose licence is restrictive, so this is written from the description, not from that code):
1 s of 16 kHz audio -> torchaudio's `MelSpectrogram(sample_rate=16000, n_mels=20, n_fft=512,
f_min=20, f_max=4000, hop_length=80)` (its defaults: periodic Hann window of n_fft, centred
frames with reflect padding, power 2, HTK mel scale, unnormalised triangles) -> log(x + 1e-6) ->
delta modulation with threshold 1 into signed -1/0/+1 events, levels starting at round(first
frame) -> the first of the 201 frames dropped: (200 steps, 20 channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# NeuroBench's class order (`datasets/speech_commands.py`): the sorted folder names of GSC v0.02,
# `_background_noise_` (sorted first) left out.
GSC_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four",
    "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right",
    "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)
RATE = 16_000  # GSC clips: 16 kHz, 1 s
N_FFT, HOP, N_MELS, F_MIN, F_MAX = 512, 80, 20, 20.0, 4000.0
LOG_OFFSET, THRESHOLD = 1e-6, 1.0
SPEECH_FILE = Path(__file__).resolve().parent / "data" / "gsc-espeak" / "keywords.npz"


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)  # HTK


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def mel_filters() -> np.ndarray:
    """(n_fft // 2 + 1, 20) triangles, equally spaced on the HTK mel scale between F_MIN and
    F_MAX, each rising from its left neighbour's centre to its own and falling to its right
    neighbour's (peak 1, no area normalisation)."""
    bins = np.linspace(0.0, RATE // 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_MELS + 2))
    width = np.diff(edges)
    offset = edges[None, :] - bins[:, None]
    rising = -offset[:, :-2] / width[:-1]
    falling = offset[:, 2:] / width[1:]
    return np.maximum(0.0, np.minimum(rising, falling))


def mel_power(audio: np.ndarray) -> np.ndarray:
    """(batch, samples) audio in [-1, 1] -> (batch, frames, 20) mel power, frames centred on
    every HOP-th sample (the signal reflect-padded by n_fft / 2 at both ends)."""
    audio = np.atleast_2d(np.asarray(audio, np.float64))
    padded = np.pad(audio, ((0, 0), (N_FFT // 2, N_FFT // 2)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)[:, ::HOP]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    return power @ mel_filters()


def delta_events(features: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """(batch, frames, channels) -> signed -1/0/+1 events: +1 where a channel has risen more
    than threshold above its level, -1 where it fell more than threshold below, the level moving
    by threshold with each event; levels start at the first frame rounded (half to even)."""
    return delta_modulate(features, threshold, np.rint(features[:, 0]))


def delta_modulate(features: np.ndarray, threshold: float, level: np.ndarray) -> np.ndarray:
    """The delta modulation of delta_events from the given starting levels (batch, channels)."""
    level = np.array(level, np.float64)
    out = np.zeros(features.shape, np.float32)
    for t in range(features.shape[1]):
        d = features[:, t] - level
        step = (d > threshold).astype(np.float64) - (d < -threshold)
        out[:, t] = step
        level += threshold * step
    return out


def s2s_events(audio: np.ndarray) -> np.ndarray:
    """(batch, 16000) audio in [-1, 1] -> (batch, 200, 20) float32 signed events, the model's
    trained input."""
    log_mel = np.log(mel_power(audio) + LOG_OFFSET)
    return delta_events(log_mel)[:, 1:]


def load_speech() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The committed espeak-ng keywords: audio (n, 16000) float in [-1, 1], the label index of
    each clip in NeuroBench's order, and the espeak-ng settings that spoke it."""
    with np.load(SPEECH_FILE) as data:
        audio = data["audio"].astype(np.float64) / 32768.0
        return audio, data["label"].astype(np.int64), [str(s) for s in data["voice"]]
