"""rstlab's conformance suite: the source text's claims S1–S12 and the RFC rules that govern
TCP resets, checked against the running kernel.

Run it with ``pytest --pyargs rstlab.conformance`` or ``rstlab conform`` (as root). Claims are
findings — each ends as *holds* or *differs* in the closing table with one line of evidence —
while the RFC rules are assertions: a failure means this kernel breaks the RFC.
"""
