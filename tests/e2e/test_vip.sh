#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_vip.sh - placeholder until the e2e lands.
exit 77
