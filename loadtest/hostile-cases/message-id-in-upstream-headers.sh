#!/usr/bin/env bash
# Open finding of the hostile suite (docs/reliability.md, "Hostile suite"): the request's
# wsa:MessageID is copied verbatim into the X-Correlation-ID header of the gateway's PDS call
# and of the worker's SDS call. A MessageID holding a character an HTTP header cannot carry
# (here DEL, 0x7F; CR/LF do the same) makes every such call fail before it is sent:
#   1. ITI-55 for a known patient: HL7 AE/AE "The patient demographics service is temporarily
#      unavailable." after ~2 s of retries (loadtest/hostile --case inject/iti55.wsa_message_id/c1_controls).
#   2. ITI-38 for a patient not yet cached: the prefetch job fails in every retry tier (1/5/30 s)
#      and is dead-lettered as upstream_unavailable; this request answers XDSRegistryBusy after
#      XHUMA_JOB_WAIT_TIMEOUT_MS, and the next, clean ITI-38 for the patient answers
#      XDSRegistryNotAvailable "The GP record service is unavailable." for XHUMA_FAILURE_TTL_SECS.
# Usage, against deploy/local/run:  loadtest/hostile-cases/message-id-in-upstream-headers.sh [NHS_NUMBER]
# NHS_NUMBER must be an nhs-sim patient with a record that nothing has fetched yet since the
# stack started (default 9690937294, HESLBY Samuel).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
gw="${XHUMA_GATEWAY_URL:-http://127.0.0.1:8000}"
nhs="${1:-9690937294}"
req() { # extra-message-id-bytes: a signed ITI-38 for $nhs, MessageID suffixed, sent; prints the RegistryError
    sed "s/9690937286/$nhs/g" "$root/deploy/local/examples/iti38.xml" | "$root/deploy/local/sign" "$nhs" \
        | perl -pe "s#(<a:MessageID>[^<]*)#\${1}$1#" \
        | curl -sS -m 90 -H 'Content-Type: application/soap+xml' --data-binary @- "$gw/SOAP/iti38" \
        | grep -o 'errorCode="[^"]*" codeContext="[^"]*"\|<rim:ExtrinsicObject' | head -2
}
echo "ITI-38 with a DEL in wsa:MessageID (waits for the job, up to XHUMA_JOB_WAIT_TIMEOUT_MS):"
req '\x7f'
sleep 40 # the job's retry tiers (1 + 5 + 30 s)
echo "The same query, a clean MessageID (a document is expected):"
req ''
