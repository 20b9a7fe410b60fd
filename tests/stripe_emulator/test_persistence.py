"""The emulator's memory survives a restart when it is given a state file (as `make run` does),
so a demo tradie's connected account still takes cards after the stack restarts."""

from __future__ import annotations

from pathlib import Path

import stripe

from stripe_emulator.testing import running_emulator


def test_objects_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "stripe-emulator.json"
    with running_emulator(state_file=str(state)) as first:
        client = first.client("sk_test_restart")
        account = client.v1.accounts.create({"type": "standard", "country": "NZ"})
        first.control(f"accounts/{account.id}/onboard")
        customer = client.v1.customers.create(
            {"email": "a@example.com"}, options={"stripe_account": account.id}
        )
    assert state.exists()

    with running_emulator(state_file=str(state)) as second:
        client = second.client("sk_test_restart")
        again = client.v1.accounts.retrieve(account.id)
        assert again.charges_enabled
        on_account = {"stripe_account": account.id}
        assert (
            client.v1.customers.retrieve(customer.id, options=on_account).email == "a@example.com"
        )
        paid = client.v1.payment_intents.create(
            {
                "amount": 5000,
                "currency": "nzd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "return_url": "https://example.com/done",
            },
            options=on_account,
        )
        assert paid.status == "succeeded"


def test_without_a_state_file_a_restart_forgets(tmp_path: Path) -> None:
    with running_emulator() as first:
        account = first.client("sk_test_restart").v1.accounts.create({"type": "standard"})
    with running_emulator() as second:
        try:
            second.client("sk_test_restart").v1.accounts.retrieve(account.id)
        except stripe.PermissionError as error:
            assert error.error is not None and error.error.code == "account_invalid"
        else:
            raise AssertionError("a fresh emulator knew an account it never made")
    assert list(tmp_path.iterdir()) == []


def test_make_run_keeps_the_emulators_state_under_instance() -> None:
    import devstack
    from peepopay.config import INSTANCE

    command = devstack.emulator_command(12111, 8000)
    assert command[command.index("--state-file") + 1] == str(INSTANCE / "stripe-emulator.json")
