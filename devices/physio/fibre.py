"""One muscle fibre's extracellular action potential from a line-source volume-conductor model.

Written for issue 27, independently of devices/simulator's shapes. The numbers and their
sources are in docs/physio-generator.md; the physics, in short:

- Intracellular action potential (Rosenfalck 1969), in space behind the wave front:
  Vm(psi) = A psi^3 exp(-psi) + B, psi in mm, A = 96 mV/mm^3, B = -90 mV.
- A fibre of radius a carries the membrane current i_m = pi a^2 sigma_i d2Vm/ds2 per unit
  length (core conductor). In an anisotropic medium (radial sigma_r, axial sigma_z) a point
  current I at axial distance z and radial distance r gives
  phi = I / (4 pi sigma_r sqrt((sigma_z/sigma_r) r^2 + z^2)) (Plonsey 1974; Andreassen and
  Rosenfalck 1981; Nandedkar and Stalberg 1983).
- The wave starts at the end plate and runs both ways to the fibre's ends at the conduction
  velocity, v = 2.2 + 0.05 (d - 25) m/s for a diameter d in um (Nandedkar and Stalberg 1983).
  The fibre is cut on a grid of ds; Vm'' is the grid's second difference with sealed ends,
  so the end plate's kink and the ends' extinction are in it with no extra terms, and the
  membrane currents sum to zero. Each cell's weight is the exact integral of 1/R over it.
  Summed by parts, phi(t) = K sum_j G_j (Vm_j(t) - B) with G the grid Laplacian of the
  weights; with time sampled every ds/v, Vm_j(t) = f(n - |j|), so phi is one convolution.
- A blocked fibre (a positive sharp wave's) ends at the block: the wave arrives and stops;
  the membrane next to the block stays depolarised and recovers slowly (tau_block).

Everything here is plain numpy: microvolts out, mm and ms in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

A_MV_PER_MM3 = 96.0  # Rosenfalck 1969
SIGMA_I = 1.01  # S/m, intracellular
SIGMA_R = 0.063  # S/m, extracellular across the fibres
SIGMA_Z = 0.33  # S/m, extracellular along the fibres
DS_MM = 0.02  # spatial grid along the fibre
IAP_MM = 20.0  # the IAP is within 0.5 uV of rest this far behind its front


def velocity_m_s(diameter_um: float) -> float:
    """Conduction velocity for a fibre diameter (Nandedkar and Stalberg 1983)."""
    return 2.2 + 0.05 * (diameter_um - 25.0)


def iap_mv(psi_mm: np.ndarray) -> np.ndarray:
    """Rosenfalck's IAP above rest (mV) at psi mm behind the front (0 ahead of it)."""
    p = np.maximum(psi_mm, 0.0)
    return A_MV_PER_MM3 * p ** 3 * np.exp(-p)


@dataclass(frozen=True)
class Fibre:
    """A fibre's geometry, relative to a point electrode at axial position 0.

    r_mm: radial distance to the electrode; z_ep_mm: the end plate's axial position;
    left_mm, right_mm: the fibre's extent from the end plate each way; block_mm: axial
    position where propagation is blocked (a needle-damaged fibre), None if it runs free."""

    diameter_um: float
    r_mm: float
    z_ep_mm: float
    left_mm: float = 40.0
    right_mm: float = 40.0
    block_mm: float | None = None
    tau_block_ms: float = 6.0
    block_reach_mm: float = 0.4
    block_hold: float = 0.3
    theta: float = 0.0  # the fibre's direction from the core, against the needle's shaft
    concentric: bool = True

    @property
    def v_mm_per_ms(self) -> float:
        return velocity_m_s(self.diameter_um)  # m/s == mm/ms


SHAFT_MM = np.linspace(0.25, 3.0, 12)  # cannula points behind the core (reference)


def reference_distances(r_mm: float, theta: float) -> np.ndarray:
    """Radial distances from the fibre to points along the concentric needle's cannula: the
    shaft runs across the fibres from the core, at angle theta from the fibre's direction."""
    d2 = r_mm ** 2 + SHAFT_MM ** 2 - 2 * r_mm * SHAFT_MM * math.cos(theta)
    return np.sqrt(np.maximum(d2, 0.05 ** 2))


def _cell_weights(s_mm: np.ndarray, r_mm: float) -> np.ndarray:
    """Integral of 1/sqrt((sz/sr) r^2 + (s - 0)^2) over each cell of width DS_MM (mm-free)."""
    c = math.sqrt(SIGMA_Z / SIGMA_R) * r_mm
    lo, hi = s_mm - DS_MM / 2, s_mm + DS_MM / 2
    return np.arcsinh(hi / c) - np.arcsinh(lo / c)


def _laplacian(w: np.ndarray) -> np.ndarray:
    """The grid's second difference with sealed ends (symmetric, rows sum to zero)."""
    g = np.empty_like(w)
    g[1:-1] = w[2:] - 2 * w[1:-1] + w[:-2]
    g[0] = w[1] - w[0]
    g[-1] = w[-2] - w[-1]
    return g


def sfap(fibre: Fibre, dt_ms: float, span_ms: float | None = None) -> np.ndarray:
    """The fibre's extracellular potential (uV) at the electrode, sampled every dt_ms from
    the moment its end plate fires, for span_ms (default: until the wave has left the fibre,
    or until the block has recovered)."""
    v = fibre.v_mm_per_ms
    n_left = int(round(fibre.left_mm / DS_MM))
    n_right = int(round(fibre.right_mm / DS_MM))
    if fibre.block_mm is not None:  # the fibre ends at the block on the electrode's side
        nb = int(round(abs(fibre.block_mm - fibre.z_ep_mm) / DS_MM))
        if fibre.block_mm >= fibre.z_ep_mm:
            n_right = min(n_right, nb)
        else:
            n_left = min(n_left, nb)
    j = np.arange(-n_left, n_right + 1)
    s = fibre.z_ep_mm + j * DS_MM
    w = _cell_weights(s, fibre.r_mm)
    if fibre.concentric:  # core against the cannula's mean (a concentric needle)
        w = w - np.mean([_cell_weights(s, rk)
                         for rk in reference_distances(fibre.r_mm, fibre.theta)], axis=0)
    g = _laplacian(w)
    # K = a^2 sigma_i / (4 sigma_r); Vm'' is the second difference over ds^2 and the
    # weights are already integrals over ds: mm^2, mV -> uV
    a_mm = fibre.diameter_um * 1e-3 / 2
    k_uv = a_mm ** 2 * SIGMA_I / (4 * SIGMA_R) / DS_MM ** 2 * 1e3
    dist = np.abs(j)
    h = np.bincount(dist, weights=g)  # nodes at the same distance from the end plate
    n_f = int(IAP_MM / DS_MM)
    f = iap_mv(np.arange(n_f) * DS_MM)
    longest = max(n_left, n_right)
    step_ms = DS_MM / v  # one grid step of the wave
    if span_ms is None:
        span_ms = (longest + n_f) * step_ms + (5 * fibre.tau_block_ms
                                               if fibre.block_mm is not None else 0.0)
    n_steps = int(math.ceil(span_ms / step_ms)) + 1
    phi = np.convolve(h, f)[:n_steps]
    if phi.size < n_steps:
        phi = np.pad(phi, (0, n_steps - phi.size))
    if fibre.block_mm is not None:
        phi += _block_correction(fibre, j, g, f, n_steps, step_ms)
    phi *= k_uv
    t_steps = np.arange(n_steps) * step_ms
    t_out = np.arange(int(span_ms / dt_ms) + 1) * dt_ms
    return np.interp(t_out, t_steps, phi, right=0.0)


def _block_correction(fibre: Fibre, j, g, f, n_steps, step_ms) -> np.ndarray:
    """At the blocked end, the membrane within block_reach_mm does not repolarise fully
    once the IAP's peak has passed: it stays at block_hold of the peak and recovers with
    tau_block (a modelling choice: the prolonged depolarisation of the damaged end); the
    convolution assumed it recovered as the IAP does. Returns the difference, in the
    convolution's units."""
    end = j[-1] if fibre.block_mm >= fibre.z_ep_mm else j[0]
    near = np.flatnonzero(np.abs(j - end) * DS_MM <= fibre.block_reach_mm)
    n = np.arange(n_steps)
    peak_k = int(round(3.0 / DS_MM))  # Rosenfalck's IAP peaks 3 mm behind the front
    peak = f[peak_k]
    out = np.zeros(n_steps)
    tau_steps = fibre.tau_block_ms / step_ms
    for idx in near:
        lag = n - abs(int(j[idx]))  # steps since the front reached this node
        base = np.where((lag >= 0) & (lag < f.size), f[np.clip(lag, 0, f.size - 1)], 0.0)
        hold = fibre.block_hold * peak * np.exp(-(lag - peak_k) / tau_steps)
        held = np.where(lag >= peak_k, np.maximum(base, hold), base)
        out += g[idx] * (held - base)
    return out


def mepp(dt_ms: float, r_mm: float, rise_ms: float, decay_ms: float,
         spread_mm: float = 1.0) -> np.ndarray:
    """A miniature end-plate potential's extracellular waveform (shape only, peak -1): the
    end-plate current (a difference of exponentials) enters at a point on the fibre and
    leaves spread evenly over spread_mm either side (passive, not propagated); potential at
    radial distance r_mm over the end plate."""
    t = np.arange(int((rise_ms + 6 * decay_ms) / dt_ms) + 1) * dt_ms
    i = np.exp(-t / decay_ms) - np.exp(-t / rise_ms)
    c = math.sqrt(SIGMA_Z / SIGMA_R) * r_mm
    sink = 1.0 / c
    source = (math.asinh(spread_mm / c) * 2) / (2 * spread_mm)  # mean of 1/R over the spread
    wave = -(sink - source) * i
    return wave / np.max(np.abs(wave))
