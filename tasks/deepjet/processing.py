"""The CMS pre- and post-processing of DeepJet refinement (CMS FastSim refinement, Sec. 3.1).

Pre-processing: the four discriminators x = (B, CvB, CvL, QG) through the logit; GEN pT through
tanh(pT / 200 GeV) and then the logit; GEN η as is; the hadron flavour one-hot encoded.

Post-processing: the refined logits back through the sigmoid, then the DeepJet output nodes
rebuilt from the discriminators by solving eq. (2) and divided by their sum, so that they sum to
one. Solving eq. (2) for the node groups gives b+bb+lepb = B, c = B·CvB/(1 − CvB) and
uds + g = c·(1 − CvL)/CvL; after dividing by the sum they are the softmax of
(0, z_CvB, z_CvB − z_CvL) in the logits z, so

    B = 1 / (1 + e^{z_CvB} (1 + e^{−z_CvL})),   CvB, CvL, QG = sigmoid(z_CvB, z_CvL, z_QG).

CvB, CvL and QG are ratios of nodes and keep their values; B is fixed by CvB and CvL (the four
discriminators of a softmax over six nodes have three degrees of freedom), so the refined B
after this layer no longer depends on the network's own B output. The discriminators fix only
the sum of the three b nodes (b, bb, lepb), which is what :func:`node_groups` returns with c,
uds and g. Every output lies in [0, 1] for every finite input.

Everything is written once in torch (float64 for arrays; this module imports torch, so tasks
import it only when a run needs it) and offered two ways:
:class:`DeepJetTransform` for the harness (any refiner, numpy in and out), and the
:class:`Preprocessing` / :class:`Postprocessing` modules to put around a network, which
``perfekt-bench export`` puts into the ONNX graph (so the functions use only operations that
ONNX Runtime runs in float64 at opset 11, the Fast Perfekt authors' choice: no sinh, no
expm1, no Clip, and no data-dependent branch).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from perfekt_bench.data import FeatureNames
from perfekt_bench.errors import DataError
from perfekt_bench.transform import FeatureTransform

from .definitions import FLAVOURS

#: discriminators are clipped to [EPS, 1 − EPS] before the logit (|logit| ≤ 13.8): NanoAOD
#: stores them with a 10-bit mantissa, so values of exactly 0 and 1 occur
EPS = 1e-6
#: the pT scale of the tanh (GeV), paper Sec. 3.1
PT_SCALE = 200.0
#: the node groups the four discriminators determine, in :func:`node_groups`' column order
NODE_GROUPS = ("b+bb+lepb", "c", "uds", "g")


def logit(p, eps: float = EPS):
    """log(p / (1 − p)) of p clipped to [eps, 1 − eps] (torch tensor in, tensor out)."""
    p = torch.minimum(torch.maximum(p, p.new_tensor(eps)), p.new_tensor(1.0 - eps))
    return torch.log(p) - torch.log1p(-p)


def pt_coordinate(pt):
    """logit(tanh(pT / 200 GeV)) (paper Sec. 3.1), as u + log(sinh u), u = pT / 200 GeV, with
    sinh u = (e^u − e^−u)/2: the same value without rounding tanh to 1 above a few TeV (in
    float64 the difference of exponentials loses nothing that matters at pT ≥ 1 MeV)."""
    u = torch.maximum(pt, pt.new_tensor(1e-3)) / PT_SCALE
    return u + torch.log(0.5 * (torch.exp(u) - torch.exp(-u)))


def one_hot_flavour(flavour):
    """One column per hadron flavour code of :data:`~.definitions.FLAVOURS` (0, 4, 5); a code
    outside them gives a row of zeros (:func:`check_flavours` refuses such codes)."""
    codes = torch.tensor(FLAVOURS, dtype=flavour.dtype, device=flavour.device)
    return (flavour[:, None] == codes[None, :]).to(flavour.dtype)


def check_flavours(flavour) -> None:
    """A :class:`DataError` naming the count and a few values of flavour codes outside
    :data:`~.definitions.FLAVOURS`."""
    codes = torch.tensor(FLAVOURS, dtype=flavour.dtype, device=flavour.device)
    unknown = ~(flavour[:, None] == codes[None, :]).any(1)
    if bool(unknown.any()):
        bad = sorted({float(v) for v in flavour[unknown].tolist()})[:5]
        raise DataError(f"column g.hadron_flavour: {int(unknown.sum())} value(s) outside "
                        f"{FLAVOURS}, e.g. {bad}")


def preprocess_g(g):
    """(GEN pT, GEN η, flavour) → (logit tanh(pT/200), η, one-hot flavour): 5 columns."""
    return torch.cat([pt_coordinate(g[:, :1]), g[:, 1:2], one_hot_flavour(g[:, 2])], dim=1)


def node_groups(z):
    """The DeepJet node groups (b+bb+lepb, c, uds, g) of refined logits z = logit(B, CvB, CvL,
    QG), rebuilt by eq. (2) and divided by their sum: non-negative, summing to one."""
    zero = torch.zeros_like(z[:, :1])
    b, c, light = torch.softmax(torch.cat([zero, z[:, 1:2], z[:, 1:2] - z[:, 2:3]], dim=1),
                                dim=1).unbind(1)
    qg = torch.sigmoid(z[:, 3])
    return torch.stack([b, c, light * (1 - qg), light * qg], dim=1)


def postprocess_x(z):
    """Refined discriminators (B, CvB, CvL, QG) in [0, 1] from refined logits z."""
    b = node_groups(z)[:, 0]
    return torch.cat([b[:, None], torch.sigmoid(z[:, 1:])], dim=1)


class DeepJetTransform(FeatureTransform):
    """The CMS pre/post-processing for any refiner on the ``deepjet`` task (numpy in and out)."""

    name: ClassVar[str] = "deepjet-cms"

    @staticmethod
    def _run(fn, a: np.ndarray) -> np.ndarray:
        return fn(torch.as_tensor(np.asarray(a, dtype=np.float64))).numpy()

    def forward_g(self, g: np.ndarray) -> np.ndarray:
        g = torch.as_tensor(np.asarray(g, dtype=np.float64))
        check_flavours(g[:, 2])
        return preprocess_g(g).numpy()

    def forward_x(self, x: np.ndarray) -> np.ndarray:
        return self._run(logit, x)

    def inverse_x(self, z: np.ndarray) -> np.ndarray:
        return self._run(postprocess_x, z)

    def names(self, names: FeatureNames) -> FeatureNames:
        flavours = tuple(f"flavour_{code}" for code in FLAVOURS)
        return FeatureNames(g=("gen_pt_logit_tanh", "gen_eta", *flavours),
                            x=tuple(f"logit_{n}" for n in names.x), h=names.h)

    def torch_modules(self) -> tuple[nn.Module, nn.Module]:
        return Preprocessing(), Postprocessing()


class Preprocessing(nn.Module):
    """The pre-processing as a torch module: (x, g) → (logit x, transformed g)."""

    def forward(self, x, g):
        return logit(x), preprocess_g(g)


class Postprocessing(nn.Module):
    """The post-processing layer appended to a network (paper Fig. 1): logits → (B, CvB, CvL,
    QG) whose nodes sum to one."""

    def forward(self, z):
        return postprocess_x(z)
