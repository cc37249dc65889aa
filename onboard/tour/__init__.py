"""The tour: a new team member's whole first day, offline, against the practice lab (`onboard lab tour`).

It sits above the lab, setup and the lessons, and uses each through what it offers: :mod:`.sandbox`
(the lab it starts or reuses, and the sandbox environment), :mod:`.setup` (`onboard setup` run
unattended), :mod:`.play` (a scripted learner plays lessons 1 to 4 and 7), :mod:`.narrate` (telling it and the
score) and :mod:`.run` (:func:`~onboard.tour.run.run_tour`, the whole).
"""
