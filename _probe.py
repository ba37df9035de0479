import timeit
from bench import send
from newsletter import messages
from newsletter.models import Campaign, Topic
import tempfile, pathlib
from bench import dataset
wd = pathlib.Path(tempfile.mkdtemp())
app = send._quiet_app(send.app_config(dataset.sqlite_url(wd), ("127.0.0.1", 25), None))
with app.app_context():
    dataset.create_schema()
    from newsletter.extensions import db
    topic = db.session.get(Topic, 1)
    campaign = Campaign(id=1, subject=send.SUBJECT, body_markdown=send.BODY, topic=topic, preheader="")
    p = messages.prepare(campaign)
    r = messages.Recipient(dataset.address(1), None, "AAAAAAAAAAAAAAAAAAAAAA", "consent", None)
    b = p.compose(r, unique="c1.d1")
    print("page", len(b.page), "start", len(p.html.start), "text", len(b.text), "tstart", len(p.text.start), "raw", len(b.raw))
    for name, f in [("compose", lambda: p.compose(r, unique="c1.d1")), ("fill", lambda: p.fill(r)), ("slot_values", lambda: p.slot_values(r)),
                    ("b64 html", lambda: p.html.base64(b.page)), ("b64 text", lambda: p.text.base64(b.text)), ("sign", lambda: p.sign_unsubscribe("AAAAAAAAAAAAAAAAAAAAAA"))]:
        t = min(timeit.repeat(f, number=2000, repeat=5)) / 2000 * 1e6
        print(f"{name}: {t:.1f} us")
