"""The definitions every part of the deepjet task shares (CMS FastSim refinement, Secs. 2–3).

Paper: S. Bein, P. Connor, K. Pedro, P. Schleper, M. Wolf for CMS, "Refining fast simulation
using machine learning", EPJ Web Conf. 295, 09032 (2024). Change a value here and the cache key
of generated data changes with it.
"""

#: refined features: the four DeepJet discriminators of NanoAOD (paper eq. 1)
X_NAMES = ("B", "CvB", "CvL", "QG")
#: conditioning: GEN jet pT (GeV), GEN η and the hadron flavour code (0 light, 4 c, 5 b)
G_NAMES = ("gen_pt", "gen_eta", "hadron_flavour")
#: hidden features of each reco jet: its pT (GeV) and η
H_NAMES = ("pt", "eta")

#: the NanoAOD branches of the discriminators, in the order of X_NAMES
NANOAOD_TAG_BRANCHES = ("Jet_btagDeepFlavB", "Jet_btagDeepFlavCvB", "Jet_btagDeepFlavCvL",
                        "Jet_btagDeepFlavQG")

#: the six DeepJet softmax nodes (paper Sec. 3, eq. 2)
NODE_NAMES = ("b", "bb", "lepb", "c", "uds", "g")
#: hadron flavour codes (CMS ghost-association of b and c hadrons) and the one-hot order
FLAVOURS = (0, 4, 5)

#: paper Sec. 2: GEN ↔ FullSim ↔ FastSim jets match when ΔR < MATCH_DR
MATCH_DR = 0.2
#: paper Sec. 2: no other jet of the same collection closer than ISOLATION_DR
ISOLATION_DR = 0.5
#: paper Sec. 2: jets down to this pT (GeV), all η
PT_MIN = 15.0
#: anti-kT distance parameter of the jets (paper Sec. 2)
JET_RADIUS = 0.4
