"""Dispatch: hospitals, live bed counts, matching transfer requests to the earliest free bed."""
