"""Accounts, API keys, the event log, and the call centre (branches, doctors, calls, offers, shifts).

Revision ID: 0001_core
Revises: 
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kernel.db


revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('branches',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('digit', sa.String(length=4), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_vi', sa.String(length=128), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=False),
    sa.Column('sl_target', sa.Float(), nullable=False),
    sa.Column('sl_threshold_s', sa.Integer(), nullable=False),
    sa.Column('max_queue', sa.Integer(), nullable=False),
    sa.Column('opens_at', sa.String(length=5), nullable=False),
    sa.Column('closes_at', sa.String(length=5), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('max_queue > 0', name=op.f('ck_branches_max_queue_positive')),
    sa.CheckConstraint('sl_target > 0 AND sl_target <= 1', name=op.f('ck_branches_sl_target_fraction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branches')),
    sa.UniqueConstraint('digit', name=op.f('uq_branches_digit'))
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_subject', ['subject_type', 'subject_id', 'id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('hospital_id', sa.String(length=32), nullable=True),
    sa.Column('display_name', sa.String(length=128), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('hospital_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_api_keys_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    op.create_table('doctors',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('full_name', sa.String(length=128), nullable=False),
    sa.Column('organisation', sa.String(length=128), nullable=False),
    sa.Column('licence_number', sa.String(length=64), nullable=False),
    sa.Column('presence', sa.String(length=16), nullable=False),
    sa.Column('presence_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('presence_version', sa.Integer(), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_doctors_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doctors')),
    sa.UniqueConstraint('user_id', name=op.f('uq_doctors_user_id'))
    )
    op.create_table('calls',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('provider_call_id', sa.String(length=128), nullable=False),
    sa.Column('caller', sa.String(length=32), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('priority_reason', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reject_reason', sa.String(length=32), nullable=True),
    sa.Column('doctor_id', sa.String(length=32), nullable=True),
    sa.Column('queued_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('abandoned_at', kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('callback_requested_at', kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('origin_call_id', sa.String(length=32), nullable=True),
    sa.Column('task_ref', sa.String(length=64), nullable=True),
    sa.Column('disposition', sa.String(length=32), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('routing_version', sa.Integer(), nullable=False),
    sa.CheckConstraint('priority BETWEEN 0 AND 9', name=op.f('ck_calls_priority_range')),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_calls_branch_id_branches')),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'], name=op.f('fk_calls_doctor_id_doctors')),
    sa.ForeignKeyConstraint(['origin_call_id'], ['calls.id'], name=op.f('fk_calls_origin_call_id_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('provider_call_id', name=op.f('uq_calls_provider_call_id'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_branch_created', ['branch_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_caller'), ['caller'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_status'), ['status'], unique=False)

    op.create_table('doctor_branches',
    sa.Column('doctor_id', sa.String(length=32), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('preference', sa.Integer(), nullable=False),
    sa.CheckConstraint('preference BETWEEN 1 AND 9', name=op.f('ck_doctor_branches_preference_range')),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_doctor_branches_branch_id_branches')),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'], name=op.f('fk_doctor_branches_doctor_id_doctors')),
    sa.PrimaryKeyConstraint('doctor_id', 'branch_id', name=op.f('pk_doctor_branches'))
    )
    op.create_table('shifts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('doctor_id', sa.String(length=32), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_shifts_ends_after_start')),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_shifts_branch_id_branches')),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'], name=op.f('fk_shifts_doctor_id_doctors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shifts')),
    sa.UniqueConstraint('doctor_id', 'starts_at', name='uq_shifts_doctor_start')
    )
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shifts_doctor_id'), ['doctor_id'], unique=False)

    op.create_table('gateway_instructions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider_call_id', sa.String(length=128), nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_gateway_instructions_call_id_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_instructions'))
    )
    with op.batch_alter_table('gateway_instructions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_instructions_provider_call_id'), ['provider_call_id'], unique=False)

    op.create_table('offers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('doctor_id', sa.String(length=32), nullable=False),
    sa.Column('offered_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', kernel.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('resolved_at', kernel.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_offers_call_id_calls')),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'], name=op.f('fk_offers_doctor_id_doctors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offers_doctor_id'), ['doctor_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_doctor_id'))
        batch_op.drop_index(batch_op.f('ix_offers_call_id'))

    op.drop_table('offers')
    with op.batch_alter_table('gateway_instructions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_instructions_provider_call_id'))

    op.drop_table('gateway_instructions')
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shifts_doctor_id'))

    op.drop_table('shifts')
    op.drop_table('doctor_branches')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_status'))
        batch_op.drop_index(batch_op.f('ix_calls_caller'))
        batch_op.drop_index('ix_calls_branch_created')

    op.drop_table('calls')
    op.drop_table('doctors')
    op.drop_table('api_keys')
    op.drop_table('users')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_subject')

    op.drop_table('events')
    op.drop_table('branches')
