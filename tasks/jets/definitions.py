"""The definitions every part of the jets task shares (Fast Perfekt paper, Sec. 4).

Change a value here and the cache key of generated data changes with it (the task returns
these in its parameters).
"""

from ..common.particles import INVISIBLE_PIDS as _INVISIBLE_PIDS

#: fat jets: anti-kT with this radius, at GEN and reco level
JET_RADIUS = 0.8
#: reco fat jets kept above this pT (GeV), as the Delphes CMS card's FatJet collection
RECO_PTMIN = 200.0
#: GEN fat jets kept above this pT (GeV): lower than reco so that resolution does not bias
#: which reco jets find a GEN partner
GEN_PTMIN = 150.0
#: reco and GEN jets match when ΔR < this, one-to-one, closest pairs first
MATCH_DR = 0.4
#: other jets counted as neighbours for the ΔR-to-closest-jet feature: anti-kT R = 0.8 jets of
#: the same collection above this pT (GeV)
NEIGHBOUR_PTMIN = 30.0
#: the ΔR feature when a jet has no neighbour (documented sentinel, beyond any real ΔR in
#: |η| < 2.5 ... 5)
NO_NEIGHBOUR_DR = 8.0
#: N-subjettiness: normalised measure with characteristic radius R0, exclusive-kT axes
R0 = 0.8
#: angular exponent β of N-subjettiness: GEN and fullsim 1.0, the flawed fastsim card 0.9
BETA_GEN = 1.0
BETA_FULL = 1.0
BETA_FAST = 0.9

X_NAMES = ("tau21", "tau32", "tau43")
G_NAMES = ("gen_tau21", "gen_tau32", "gen_tau43")
H_NAMES = ("mass", "pt", "eta", "dr_neighbour", "n_charged", "n_neutral")

#: PDG ids of invisible particles, left out of GEN jets (Delphes' NeutrinoFilter)
INVISIBLE_PIDS = _INVISIBLE_PIDS
