//! Who speaks on a ticket, and with what right: a personal reply address,
//! a trusted server's verdict, or only a claim in `From:`.

use super::apply::{FLAG_OUTSIDER_COMMENT, FLAG_UNAUTHENTICATED, Speaker, Stored, Voice};
use super::*;
use crate::domain::reply_token::{self, Personal};
use crate::domain::{address, auth_results};
use crate::mail::inbound::route::Action;
use crate::store::users;
use sqlx::AnyConnection;

impl Ingestor {
    /// Who speaks on a ticket, and with what right. A signed personal
    /// reply address names a staff member of the queue and their voice
    /// (correspondence or comment) whatever `From:` says. Otherwise `From:`
    /// is a claim: staff of the queue may comment (it stays internal), but
    /// their correspondence reaches requestors only when our trusted server's
    /// `Authentication-Results` vouches for the address. Anyone else on the
    /// comment address is an outsider corresponding, flagged.
    pub(super) async fn speaker(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        s: &Stored<'_>,
        (ticket, queue_id): (i64, i64),
        action: Action,
    ) -> Result<Speaker, IngestError> {
        for addr in recipient_addresses(s.mail) {
            let Some((_, detail)) = address::split_plus(addr) else {
                continue;
            };
            let Some((voice, uid)) = reply_token::personal_of(&detail, ctx.reply_secret.expose())
            else {
                continue;
            };
            let mut member = users::staff_member(&mut *conn, uid, queue_id)
                .await?
                .map(|e| (e, Voice::Staff));
            // A task's assignee answers its mail as themselves, with the
            // assignee's narrow voice when the queue is not theirs.
            if member.is_none()
                && crate::store::tasks::visible_assignee(&mut *conn, ticket).await? == Some(uid)
            {
                member = users::email_of(&mut *conn, uid)
                    .await?
                    .map(|(e, _)| (e, Voice::Assignee));
            }
            if let Some((email, speaks_as)) = member {
                return Ok(Speaker {
                    user_id: uid,
                    email,
                    action: match (voice, speaks_as) {
                        (Personal::Correspond, _) | (_, Voice::Assignee) => Action::Correspond,
                        (Personal::Comment, _) => Action::Comment,
                    },
                    voice: speaks_as,
                    flag: None,
                });
            }
        }
        let claimed = &s.from.email;
        let staff_here = users::staff_on_queue(&mut *conn, claimed, queue_id)
            .await?
            .is_some();
        let from_claim = |action, voice, flag| Speaker {
            user_id: s.sender.id,
            email: claimed.clone(),
            action,
            voice,
            flag,
        };
        Ok(match (action, staff_here) {
            (Action::Comment, true) => from_claim(Action::Comment, Voice::Staff, None),
            (Action::Comment, false) => from_claim(
                Action::Correspond,
                Voice::Outsider,
                Some(FLAG_OUTSIDER_COMMENT),
            ),
            (Action::Correspond, false) => from_claim(Action::Correspond, Voice::Outsider, None),
            (Action::Correspond, true) => {
                let vouched = self.cfg.trusted_authserv_id.as_deref().is_some_and(|id| {
                    auth_results::vouches_for(&s.mail.signals.auth_results, id, claimed)
                });
                if vouched {
                    from_claim(Action::Correspond, Voice::Staff, None)
                } else {
                    from_claim(
                        Action::Correspond,
                        Voice::UnauthenticatedStaff,
                        Some(FLAG_UNAUTHENTICATED),
                    )
                }
            }
        })
    }
}
