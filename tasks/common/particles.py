"""Four-vectors with PDG id and charge: one event's particles, or one jet's constituents.

Energy-flow objects made by the jets task's detector emulation use the same container: tracks
keep the PDG id and charge of the particle that made them; ECAL neutral objects have
``pid = 22`` (photon) and HCAL neutral objects ``pid = 130`` (neutral hadron), both with
charge 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PHOTON_PID = 22
NEUTRAL_HADRON_PID = 130
#: PDG ids of invisible particles (neutrinos), left out of GEN jets (Delphes' NeutrinoFilter)
INVISIBLE_PIDS = (12, 14, 16)


@dataclass(frozen=True)
class Particles:
    """Columns of equal length: px, py, pz, e in GeV (float64), pid (int32), charge (int8)."""

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pid: np.ndarray
    charge: np.ndarray

    def __len__(self) -> int:
        return len(self.px)

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)

    @property
    def eta(self) -> np.ndarray:
        pt = self.pt
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pt > 0, np.arcsinh(self.pz / np.where(pt > 0, pt, 1.0)),
                            np.sign(self.pz) * 1e3)

    @property
    def mass(self) -> np.ndarray:
        m2 = self.e**2 - self.px**2 - self.py**2 - self.pz**2
        return np.sqrt(np.clip(m2, 0.0, None))

    def take(self, index) -> Particles:
        """The rows selected by a boolean mask or an index array."""
        return Particles(self.px[index], self.py[index], self.pz[index], self.e[index],
                         self.pid[index], self.charge[index])

    @classmethod
    def empty(cls) -> Particles:
        f = np.zeros(0, dtype=np.float64)
        return cls(f, f, f, f, np.zeros(0, np.int32), np.zeros(0, np.int8))

    @classmethod
    def concat(cls, parts: Sequence[Particles]) -> Particles:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, c) for p in parts])
                     for c in ("px", "py", "pz", "e", "pid", "charge")))

    @classmethod
    def from_pt_eta_phi_m(cls, pt, eta, phi, mass, pid, charge) -> Particles:
        pt, eta, phi, mass = (np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, mass))
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
        return cls(px, py, pz, e, np.asarray(pid, dtype=np.int32),
                   np.asarray(charge, dtype=np.int8))
