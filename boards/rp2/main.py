# Pico W main.py: pick the app slot (a slot that failed to validate on its one trial boot is
# abandoned here), import its `app` module, then run the NervesHub link next to it. The app
# is confirmed once the link has joined NervesHub. An app that does not even import is not
# run: the board resets and the next boot goes back to the previous slot.
import machine
import nhl_board
import nhl_rp2

board = nhl_rp2.Rp2Board()
state = board.boot()
print("nerves_hub_link: app slot %s, %s" % (board.slot, state))
app = None
if board.slot:
    try:
        import app
    except Exception as e:
        print("app in slot %s does not import: %r; resetting" % (board.slot, e))
        machine.reset()
nhl_board.run(board, "/nhl/config.json", app=app)
