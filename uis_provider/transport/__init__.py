"""Carry out the protocol core's effects over HTTP: ``sync`` with requests, ``aio`` with httpx for triggers."""
