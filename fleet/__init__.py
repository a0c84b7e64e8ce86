"""`scripts/fleet`: one operation over many stacks of this project through the Automation API
(preview, up, refresh, status, set, unset), with a canary, a bound on how many run at once, a line
per stack as it starts and ends, and one report. Pure parts: select (which stacks), schedule (in
what order and how many at once), report (what is printed). engine and cli do the I/O."""
