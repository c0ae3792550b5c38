"""The bottom layer: facts node/, p2p/ and proving/ share; imports none of them."""
