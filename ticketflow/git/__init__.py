"""Everything git: pygit2 is imported in this package only, and not by this file, so
reading a result (``git.results``) or a transfer's rule (``git.transfer``) costs no
pygit2 import.

- ``local``: open the repository, commit exactly ticketflow's paths, branch and upstream;
- ``transport``: fetch, push, clone (libgit2's callbacks, what a failure means);
- ``credentials``: where a transfer's secrets come from;
- ``transfer``: a transfer's network phase, the low-speed rule, scratch folders;
- ``quarantine``: the scratch repository a transfer runs against;
- ``pull``: fetch, then fast-forward or merge ticket by ticket;
- ``tickets``: ticket files inside git trees;
- ``changes``: what a pull brought, ticket by ticket;
- ``results``: what a fetch, pull and push report (no pygit2).
"""
