"""Hand-written bounce and complaint reports, following RFC 3464 and RFC 5965.

Each function returns the raw bytes a mailbox would hold. `verp` is the envelope sender
the original message went out with (bounces.envelope_sender(delivery_id)).
"""

from __future__ import annotations

CRLF = "\r\n"


def _bytes(text: str) -> bytes:
    return text.strip("\n").replace("\n", CRLF).encode() + CRLF.encode()


def dsn(
    verp: str,
    recipient: str = "ann@example.org",
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <ann@example.org>: Recipient address rejected",
    boundary: str = "DSN.1700000000/mx.example.net",
) -> bytes:
    """A Postfix-style delivery status notification (RFC 3464 section 2, example 9.1)."""
    return _bytes(f"""
Return-Path: <>
Delivered-To: {verp}
Received: by mx.example.net (Postfix) id 4Xyz; Mon, 23 Nov 2026 10:00:05 +0000 (UTC)
Date: Mon, 23 Nov 2026 10:00:05 +0000 (UTC)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {verp}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="{boundary}"
Message-Id: <20261123100005.4Xyz@mx.example.net>

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4Xyz
Arrival-Date: Mon, 23 Nov 2026 10:00:01 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; in.example.org
Diagnostic-Code: {diagnostic}

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
From: Demo Shop <news@shop.example>
To: {recipient}
Subject: Spring news
Message-ID: <c1.d1.abcdef@news.example.test>

--{boundary}--
""")


def arf(
    verp: str,
    feedback_type: str = "abuse",
    recipient: str = "ann@example.org",
    boundary: str = "part1_13d.2e68ed54_boundary",
) -> bytes:
    """An abuse report as a feedback loop sends it (RFC 5965 appendix B.2).

    The report goes to the feedback-loop address, not to the VERP address: the token
    is found only in the quoted original message's Return-Path.
    """
    return _bytes(f"""
From: <staff@fbl.example.net>
Date: Mon, 23 Nov 2026 11:00:00 +0000
Subject: FW: Spring news
To: <abuse@shop.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
 boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Mon, 23 Nov 2026 10:00:00 +0000.
For more information about this format please see
http://www.mipassoc.org/arf/.

--{boundary}
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{verp}>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Mon, 23 Nov 2026 10:00:00 +0000
Reporting-MTA: dns; mail.fbl.example.net
Source-IP: 192.0.2.1
Authentication-Results: mail.fbl.example.net; spf=pass smtp.mail=shop.example
Reported-Domain: shop.example

--{boundary}
Content-Type: message/rfc822
Content-Disposition: inline

Return-Path: <{verp}>
Received: from mailserver.shop.example (mailserver.shop.example [192.0.2.1])
 by mail.fbl.example.net with ESMTP id 12345; Mon, 23 Nov 2026 10:00:00 +0000
From: Demo Shop <news@shop.example>
To: <{recipient}>
Subject: Spring news
Date: Mon, 23 Nov 2026 09:59:00 +0000
Message-ID: <c1.d1.abcdef@news.example.test>

Hello there.

--{boundary}--
""")


def out_of_office() -> bytes:
    """An auto-reply: neither a DSN nor a complaint."""
    return _bytes("""
From: Ann <ann@example.org>
To: bounces@shop.example
Subject: Out of office
Auto-Submitted: auto-replied

I am away until Monday.
""")
