# The two commands of the README, and a few more for developers.
.PHONY: up test down lint bootstrap spike waiting-room-bench

up:           ## set up and run the whole platform locally (Ctrl-C stops it)
	bin/bootstrap
	.venv/bin/python bin/platform up

test:         ## install what the tests need and run the whole suite (tox)
	bin/bootstrap --test
	.venv/bin/tox

down:         ## stop a platform started by `make up` in another terminal
	.venv/bin/python bin/platform down

lint:         ## ruff, import contracts, mypy (per service), migrations check
	bin/bootstrap
	.venv/bin/tox -e lint

spike:        ## the 100x spike against the platform and the monolith (docs/spike.md); SPIKE_ARGS="--full"
	bin/bootstrap
	.venv/bin/python -m bench.spike $(SPIKE_ARGS)

waiting-room-bench:  ## 10,000 shoppers through the issue 13 waiting room (docs/benchmarks.md); WAITING_ROOM_ARGS=
	bin/bootstrap
	.venv/bin/python -m bench.waitingroom $(WAITING_ROOM_ARGS)

bootstrap:
	bin/bootstrap
